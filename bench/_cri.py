"""The pod row: pouch's CRI against containerd's, through one Python gRPC client of runtime.v1.

``CriPods`` speaks the CRI (the stubs pouch generates from the CRI's .proto,
``pouch_cri._pb``) on an engine's socket: pouchd's ``<run root>/cri.sock``,
containerd's own gRPC socket (its CRI plugin). One timed sample is what
kubelet does to start a one-container pod: ``RunPodSandbox``,
``CreateContainer`` (busybox, ``sleep 3600``), ``StartContainer``, then
``ContainerStatus`` until the container is RUNNING; each sample is followed,
untimed, by ``StopPodSandbox`` and ``RemovePodSandbox``. Both engines pull
the same busybox from the bench's registry through the ``ImageService``
before anything is timed, and one untimed pod is made and removed on each
(pouchd builds and imports its pause image then; containerd pulls its
sandbox image, the same pause binary, from the registry). Pods join each
engine's CNI bridge: pouch's default network, containerd's conflist (see
``_peers.Containerd``); with ``host_network`` (``--pod-network host``) both
are on the host's network instead (``NamespaceOption`` network NODE).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from pathlib import Path
from typing import Any

import grpc
from _procs import TOKEN, BenchError
from pouch_cri._pb import api_pb2 as pb
from pouch_cri._pb import api_pb2_grpc as rpc

__all__ = ["CriPods"]

RPC_TIMEOUT = 120.0
RUNNING_TIMEOUT = 30.0
COMMAND = ["sleep", "3600"]


class CriPods:
    """A CRI client on one engine's socket that starts, times and removes pods."""

    def __init__(
        self, label: str, socket: Path, logs: Path, cgroup_parent: str, *, host_network: bool
    ) -> None:
        self.label = label
        self.host_network = host_network  # False: the engine's CNI bridge
        self.logs = logs
        self.cgroup_parent = cgroup_parent  # containerd's cgroupfs path; pouch keeps its own
        self.image = ""
        self.names = itertools.count()
        self.address = ""  # the first pod's IP, for the figure's note
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        try:
            grpc.channel_ready_future(self.channel).result(timeout=30)
        except grpc.FutureTimeoutError as exc:
            self.channel.close()
            raise BenchError(f"{label}: no CRI server answered on {socket} in 30 s") from exc
        self.runtime: Any = rpc.RuntimeServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.images: Any = rpc.ImageServiceStub(self.channel)  # type: ignore[no-untyped-call]

    def _call(self, method: Any, request: Any) -> Any:
        """One RPC; a gRPC failure as ``BenchError`` naming the method and the status."""
        try:
            return method(request, timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            name = type(request).__name__.removesuffix("Request")
            code = exc.code() if isinstance(exc, grpc.Call) else "?"
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            raise BenchError(f"{self.label}: {name}: {code}: {details}") from exc

    def version(self) -> str:
        found = self._call(self.runtime.Version, pb.VersionRequest(version="v1"))
        return f"{found.runtime_name} {found.runtime_version} (CRI {found.runtime_api_version})"

    def pull(self, image: str) -> None:
        self._call(self.images.PullImage, pb.PullImageRequest(image=pb.ImageSpec(image=image)))

    def prepare(self, image: str, sandbox_image: str = "") -> None:
        """Pull busybox (and the sandbox image) through the CRI; one untimed pod."""
        self.pull(image)
        if sandbox_image:
            self.pull(sandbox_image)
        self.image = image
        pod = self._run_pod()
        try:
            status = self._call(
                self.runtime.PodSandboxStatus, pb.PodSandboxStatusRequest(pod_sandbox_id=pod)
            ).status
            self.address = status.network.ip or "host network"
        finally:
            self._remove(pod)

    def _pod_config(self) -> Any:
        name = f"{TOKEN}-pod-{next(self.names)}"
        linux = pb.LinuxPodSandboxConfig(cgroup_parent=self.cgroup_parent)
        if self.host_network:
            options = pb.NamespaceOption(network=pb.NODE)
            linux.security_context.CopyFrom(
                pb.LinuxSandboxSecurityContext(namespace_options=options)
            )
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="bench"),
            hostname="" if self.host_network else name,  # as kubelet: the host's own on its network
            log_directory=str(self.logs / name),
            linux=linux,
        )

    def _run_pod(self) -> str:
        """RunPodSandbox + CreateContainer + StartContainer, until RUNNING; the pod's ID."""
        config = self._pod_config()
        pod = str(
            self._call(
                self.runtime.RunPodSandbox, pb.RunPodSandboxRequest(config=config)
            ).pod_sandbox_id
        )
        try:
            request = pb.CreateContainerRequest(
                pod_sandbox_id=pod,
                sandbox_config=config,
                config=pb.ContainerConfig(
                    metadata=pb.ContainerMetadata(name="sleep"),
                    image=pb.ImageSpec(image=self.image),
                    command=COMMAND,
                    log_path="sleep.log",
                    linux=pb.LinuxContainerConfig(),
                ),
            )
            container = self._call(self.runtime.CreateContainer, request).container_id
            self._call(
                self.runtime.StartContainer, pb.StartContainerRequest(container_id=container)
            )
            self._until_running(container)
        except BaseException:
            with contextlib.suppress(BenchError):
                self._remove(pod)
            raise
        return pod

    def _until_running(self, container: str) -> None:
        deadline = time.monotonic() + RUNNING_TIMEOUT
        request = pb.ContainerStatusRequest(container_id=container)
        while True:
            state = self._call(self.runtime.ContainerStatus, request).status.state
            if state == pb.CONTAINER_RUNNING:
                return
            if state == pb.CONTAINER_EXITED or time.monotonic() > deadline:
                name = pb.ContainerState.Name(state)
                raise BenchError(f"{self.label}: container {container[:12]} is {name}")
            time.sleep(0.002)

    def _remove(self, pod: str) -> None:
        self._call(self.runtime.StopPodSandbox, pb.StopPodSandboxRequest(pod_sandbox_id=pod))
        self._call(self.runtime.RemovePodSandbox, pb.RemovePodSandboxRequest(pod_sandbox_id=pod))

    def start_pod(self) -> float:
        """Seconds from RunPodSandbox to the container RUNNING; the pod removed, untimed."""
        start = time.perf_counter()
        pod = self._run_pod()
        elapsed = time.perf_counter() - start
        self._remove(pod)
        return elapsed

    def close(self) -> list[str]:
        """Stop and remove every pod the engine has (ours only: its own pouchd, containerd)."""
        with contextlib.suppress(BenchError):
            listed = self._call(self.runtime.ListPodSandbox, pb.ListPodSandboxRequest())
            for item in listed.items:
                with contextlib.suppress(BenchError):
                    self._remove(item.id)
        self.channel.close()
        return []
