"""A pod's containers: create, start, stop, remove, status, list, update,
and ``ExecSync``.

Each is a pouch container in its pod's namespaces (see ``_convert``); the
engine runs, restores and cleans it up as any other. Stop waits the timeout,
then kills; Stop and Remove of a container that is gone succeed.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import anyio

from pouch.errors import Conflict, InvalidArgument, NoSuchObject, PouchError
from pouch.models import Container, ExecConfig, State

from . import _labels as L
from ._convert import container_config, propagation, resources
from ._objects import CriObjects
from ._pb import api_pb2 as pb
from ._pods import ready

__all__ = ["ContainerService", "Timeout", "container_metadata", "cri_state"]

#: what ExecSync keeps of each stream.
_OUTPUT_LIMIT = 16 << 20
_NS = 1_000_000_000


class Timeout(PouchError):
    status = 504


def cri_state(container: Container) -> int:
    status = container.state.status
    if status in (State.RUNNING, State.PAUSED):
        return pb.CONTAINER_RUNNING
    if status == State.CREATED:
        return pb.CONTAINER_CREATED
    if status in (State.EXITED, State.DEAD):
        return pb.CONTAINER_EXITED
    return pb.CONTAINER_UNKNOWN


def container_metadata(container: Container) -> pb.ContainerMetadata:
    meta = L.read(container, L.METADATA)
    return pb.ContainerMetadata(name=meta.get("name", ""), attempt=meta.get("attempt", 0))


def _summary(container: Container) -> dict[str, Any]:
    extra = L.read(container, L.EXTRA)
    return {
        "id": container.id,
        "metadata": container_metadata(container),
        "image": pb.ImageSpec(image=extra.get("image", container.config.image)),
        "image_ref": container.image_id,
        "state": cri_state(container),
        "created_at": int(container.created_at * _NS),
        "labels": L.cri_labels(container),
        "annotations": L.read(container, L.ANNOTATIONS),
    }


def _reason(container: Container) -> str:
    if cri_state(container) != pb.CONTAINER_EXITED:
        return ""
    if container.state.oom_killed:
        return "OOMKilled"
    return "Completed" if container.state.exit_code == 0 else "Error"


def _status(container: Container) -> pb.ContainerStatus:
    summary = _summary(container)
    state = container.state
    return pb.ContainerStatus(
        **{k: v for k, v in summary.items() if k != "created_at"},
        created_at=summary["created_at"],
        started_at=int(state.started_at * _NS),
        finished_at=int(state.finished_at * _NS) if summary["state"] == pb.CONTAINER_EXITED else 0,
        exit_code=state.exit_code or 0,
        reason=_reason(container),
        message=state.error,
        mounts=[
            pb.Mount(
                container_path=m.target,
                host_path=m.source,
                readonly=m.read_only,
                propagation=propagation(m.options),
            )
            for m in container.config.mounts
            if m.type == "bind"
        ],
        log_path=container.log_path if "path" in container.config.log_options else "",
    )


class ContainerService:
    def __init__(self, objects: CriObjects) -> None:
        self.objects = objects
        self.engine = objects.engine

    async def CreateContainer(
        self, request: pb.CreateContainerRequest, context: Any
    ) -> pb.CreateContainerResponse:
        infra = self.objects.sandbox(request.pod_sandbox_id)
        if not ready(infra):
            raise Conflict(f"pod sandbox {infra.id} is not ready: it has been stopped")
        extra = L.read(infra, L.EXTRA)
        name, config = container_config(request.config, infra, L.read(infra, L.METADATA), extra)
        if config.runtime in self.objects.vm_runtimes and self.objects.containers(infra.id):
            raise Conflict(
                f"a pod on {config.runtime} holds one container: each is a VM of its own,"
                " and the pod's network is the first one's"
            )
        if "path" in config.log_options:
            path = anyio.Path(config.log_options["path"])
            await path.parent.mkdir(parents=True, exist_ok=True)
        container = await self.engine.create(config, name=name)
        return pb.CreateContainerResponse(container_id=container.id)

    async def StartContainer(
        self, request: pb.StartContainerRequest, context: Any
    ) -> pb.StartContainerResponse:
        container = self.objects.container(request.container_id)
        await self.engine.start(container.id)
        return pb.StartContainerResponse()

    async def StopContainer(
        self, request: pb.StopContainerRequest, context: Any
    ) -> pb.StopContainerResponse:
        with contextlib.suppress(NoSuchObject):
            container = self.objects.container(request.container_id)
            await self.engine.stop(container.id, timeout=max(0, request.timeout))
        return pb.StopContainerResponse()

    async def RemoveContainer(
        self, request: pb.RemoveContainerRequest, context: Any
    ) -> pb.RemoveContainerResponse:
        with contextlib.suppress(NoSuchObject):
            container = self.objects.container(request.container_id)
            await self.engine.remove(container.id, force=True)
        return pb.RemoveContainerResponse()

    async def ListContainers(
        self, request: pb.ListContainersRequest, context: Any
    ) -> pb.ListContainersResponse:
        wanted = request.filter
        found = []
        for container in self.objects.containers(
            wanted.pod_sandbox_id, wanted.id, wanted.label_selector
        ):
            summary = _summary(container)
            if wanted.HasField("state") and summary["state"] != wanted.state.state:
                continue
            sandbox = container.config.labels.get(L.SANDBOX, "")
            found.append(pb.Container(**summary, pod_sandbox_id=sandbox))
        return pb.ListContainersResponse(containers=found)

    async def ContainerStatus(
        self, request: pb.ContainerStatusRequest, context: Any
    ) -> pb.ContainerStatusResponse:
        container = self.objects.container(request.container_id)
        response = pb.ContainerStatusResponse(status=_status(container))
        if request.verbose:
            info = {
                "pid": container.state.pid,
                "sandboxID": container.config.labels.get(L.SANDBOX, ""),
                "runtime": container.runtime,
                "config": json.loads(container.spec or b"{}"),
            }
            response.info["info"] = json.dumps(info)
        return response

    async def UpdateContainerResources(
        self, request: pb.UpdateContainerResourcesRequest, context: Any
    ) -> pb.UpdateContainerResourcesResponse:
        container = self.objects.container(request.container_id)
        await self.engine.update(container.id, resources(request.linux))
        return pb.UpdateContainerResourcesResponse()

    async def ReopenContainerLog(
        self, request: pb.ReopenContainerLogRequest, context: Any
    ) -> pb.ReopenContainerLogResponse:
        container = self.objects.container(request.container_id)
        await self.engine.reopen_log(container.id)
        return pb.ReopenContainerLogResponse()

    async def ExecSync(self, request: pb.ExecSyncRequest, context: Any) -> pb.ExecSyncResponse:
        container = self.objects.container(request.container_id)
        if not request.cmd:
            raise InvalidArgument("cmd is required", field="cmd")
        _, process = await self.engine.exec(container.id, ExecConfig(cmd=list(request.cmd)))
        out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        sizes = {"stdout": 0, "stderr": 0}
        timeout = request.timeout if request.timeout > 0 else None
        with anyio.move_on_after(timeout) as scope:
            await process.close_stdin()
            async for stream, chunk in process.output():
                if sizes[stream] < _OUTPUT_LIMIT:
                    out[stream].append(chunk[: _OUTPUT_LIMIT - sizes[stream]])
                    sizes[stream] += len(chunk)
            code = await process.wait()
        if scope.cancelled_caught:
            await process.kill(9)
            with anyio.move_on_after(5):
                await process.wait()
            raise Timeout(f"command {list(request.cmd)} timed out after {timeout} s")
        return pb.ExecSyncResponse(
            stdout=b"".join(out["stdout"]), stderr=b"".join(out["stderr"]), exit_code=code
        )
