"""Pod sandboxes: run, stop, remove, status, list.

A pod is its infra container (the pause process): it holds the network, IPC
and UTS namespaces (and the PID namespace when the pod shares one) for the
pod's life, and owns the pod's network attachment, ports and /etc files
through the engine's sandbox. The pod is READY while the infra container
runs. Every call is idempotent: a second RunPodSandbox with the same
metadata answers the first one's ID; stopping or removing a pod that is gone
succeeds.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from pouch.errors import Conflict, NoSuchObject
from pouch.models import Container, State

from . import _labels as L
from ._convert import sandbox_config
from ._objects import CriObjects
from ._pause import ensure_sandbox_image
from ._pb import api_pb2 as pb

__all__ = ["PodService", "pod_ip", "pod_metadata", "ready"]

_NS_MODES = {"pod": pb.POD, "container": pb.CONTAINER, "node": pb.NODE, "target": pb.TARGET}


def ready(infra: Container) -> bool:
    return infra.state.status in (State.RUNNING, State.PAUSED)


def pod_ip(infra: Container) -> list[str]:
    return [ip.split("/")[0] for a in infra.attachments for ip in a.ips]


def pod_metadata(infra: Container) -> pb.PodSandboxMetadata:
    meta = L.read(infra, L.METADATA)
    return pb.PodSandboxMetadata(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        namespace=meta.get("namespace", ""),
        attempt=meta.get("attempt", 0),
    )


def _common(infra: Container) -> dict[str, Any]:
    return {
        "id": infra.id,
        "metadata": pod_metadata(infra),
        "state": pb.SANDBOX_READY if ready(infra) else pb.SANDBOX_NOTREADY,
        "created_at": int(infra.created_at * 1e9),
        "labels": L.cri_labels(infra),
        "annotations": L.read(infra, L.ANNOTATIONS),
        "runtime_handler": L.read(infra, L.EXTRA).get("handler", ""),
    }


def _status(infra: Container) -> pb.PodSandboxStatus:
    ips = pod_ip(infra) if ready(infra) else []
    modes = L.read(infra, L.EXTRA).get("namespaces", {})
    options = pb.NamespaceOption(
        network=_NS_MODES.get(modes.get("network", "pod"), pb.POD),
        pid=_NS_MODES.get(modes.get("pid", "pod"), pb.POD),
        ipc=_NS_MODES.get(modes.get("ipc", "pod"), pb.POD),
    )
    return pb.PodSandboxStatus(
        **_common(infra),
        network=pb.PodSandboxNetworkStatus(
            ip=ips[0] if ips else "", additional_ips=[pb.PodIP(ip=ip) for ip in ips[1:]]
        ),
        linux=pb.LinuxPodSandboxStatus(namespaces=pb.Namespace(options=options)),
    )


class PodService:
    def __init__(self, objects: CriObjects) -> None:
        self.objects = objects
        self.engine = objects.engine

    async def RunPodSandbox(
        self, request: pb.RunPodSandboxRequest, context: Any
    ) -> pb.RunPodSandboxResponse:
        runtime = self.objects.runtime_for(request.runtime_handler)
        name, config = sandbox_config(
            request,
            image=self.objects.sandbox_image,
            network=self.objects.network,
            runtime=runtime,
            infra=self.objects.infra_runtime(runtime),
        )
        with contextlib.suppress(NoSuchObject):
            return pb.RunPodSandboxResponse(pod_sandbox_id=self.engine.lookup(name).id)
        if request.config.log_directory:
            Path(request.config.log_directory).mkdir(parents=True, exist_ok=True)
        await ensure_sandbox_image(self.engine, self.objects.sandbox_image)
        try:
            infra = await self.engine.create(config, name=name)
        except Conflict:  # the same pod, asked twice at once
            return pb.RunPodSandboxResponse(pod_sandbox_id=self.engine.lookup(name).id)
        try:
            await self.engine.start(infra.id)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.engine.remove(infra.id, force=True)
            raise
        return pb.RunPodSandboxResponse(pod_sandbox_id=infra.id)

    async def StopPodSandbox(
        self, request: pb.StopPodSandboxRequest, context: Any
    ) -> pb.StopPodSandboxResponse:
        try:
            infra = self.objects.sandbox(request.pod_sandbox_id)
        except NoSuchObject:
            return pb.StopPodSandboxResponse()
        for container in self.objects.containers(infra.id):
            with contextlib.suppress(NoSuchObject):
                await self.engine.stop(container.id, timeout=0)
        with contextlib.suppress(NoSuchObject):
            await self.engine.stop(infra.id, timeout=0)
        return pb.StopPodSandboxResponse()

    async def RemovePodSandbox(
        self, request: pb.RemovePodSandboxRequest, context: Any
    ) -> pb.RemovePodSandboxResponse:
        try:
            infra = self.objects.sandbox(request.pod_sandbox_id)
        except NoSuchObject:
            return pb.RemovePodSandboxResponse()
        for container in self.objects.containers(infra.id):
            with contextlib.suppress(NoSuchObject):
                await self.engine.remove(container.id, force=True)
        with contextlib.suppress(NoSuchObject):
            await self.engine.remove(infra.id, force=True)
        return pb.RemovePodSandboxResponse()

    async def PodSandboxStatus(
        self, request: pb.PodSandboxStatusRequest, context: Any
    ) -> pb.PodSandboxStatusResponse:
        infra = self.objects.sandbox(request.pod_sandbox_id)
        response = pb.PodSandboxStatusResponse(status=_status(infra))
        if request.verbose:
            info = {
                "pid": infra.state.pid,
                "runtime": infra.runtime,
                "image": infra.config.image,
                "netns": infra.netns_path,
                "containers": [c.id for c in self.objects.containers(infra.id)],
            }
            response.info["info"] = json.dumps(info)
        return response

    async def ListPodSandbox(
        self, request: pb.ListPodSandboxRequest, context: Any
    ) -> pb.ListPodSandboxResponse:
        wanted = request.filter
        summaries = [
            _common(infra) for infra in self.objects.sandboxes(wanted.id, wanted.label_selector)
        ]
        return pb.ListPodSandboxResponse(
            items=[
                pb.PodSandbox(**summary)
                for summary in summaries
                if not wanted.HasField("state") or summary["state"] == wanted.state.state
            ]
        )
