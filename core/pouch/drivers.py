"""The driver interfaces plugins implement: runtimes, network and volume drivers.

Registration hooks (see ``pouch.hookspecs``) return objects satisfying these
``typing.Protocol``s; the engine picks one by name and awaits its methods inside
its own task group. The interfaces are small on purpose: a method a driver
cannot support raises ``pouch.errors.NotSupported`` and the capability is left
out of ``describe()``, so callers and the conformance suite can tell up front.

Nothing here assumes a host PID or a host mount: a runtime receives the
sandbox, the OCI spec and the root filesystem as *mount descriptions*, and
decides itself how to present them (mount them for runc, share them into a VM
for kata).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Protocol, runtime_checkable

import msgspec

if TYPE_CHECKING:
    from pouch.oci import LinuxResources, Process, Spec

__all__ = [
    "DriverInfo",
    "ExecProcess",
    "ExitStatus",
    "Mount",
    "NetworkAttachment",
    "NetworkDriver",
    "PortMapping",
    "Runtime",
    "RuntimeContainer",
    "RuntimeState",
    "Sandbox",
    "Service",
    "Stats",
    "StdioStream",
    "VolumeDriver",
    "VolumeInfo",
]


class DriverInfo(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What ``describe()`` reports: shown by ``pouch info`` and ``plugin ls``."""

    name: str
    version: str = ""
    # Optional features, by name. Runtimes: "exec", "pause", "update", "stats",
    # "tty", "restore" (containers survive the engine), "resources" (cgroup
    # limits are enforced), "namespaces" (processes are isolated from the host),
    # "attach" (stdin of the main process can be written).
    capabilities: list[str] = []
    details: dict[str, str] = {}


class Mount(msgspec.Struct, omit_defaults=True, kw_only=True, frozen=True):
    """A mount to perform, described rather than done (as containerd's mount.Mount)."""

    type: str
    source: str
    options: list[str] = []


class PortMapping(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Publish ``container_port`` on the host (``host_port`` 0 picks a free one)."""

    container_port: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    host_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    host_ip: str = ""
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"


class Sandbox(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The namespaces and files a group of containers shares (a pod).

    A plain container is a sandbox of one, with ``id`` equal to its own.
    """

    id: str
    hostname: str = ""
    # Path of a pinned network namespace, or "" to let the runtime make a private
    # one; ``host_network`` means the host's namespace is used.
    netns_path: str = ""
    host_network: bool = False
    hosts_path: str = ""
    resolv_conf_path: str = ""
    hostname_path: str = ""
    # The name other members of a network may resolve it by, and its published ports.
    name: str = ""
    ports: list[PortMapping] = []


class RuntimeContainer(msgspec.Struct, kw_only=True):
    """Everything a runtime needs to create one container."""

    id: str
    sandbox: Sandbox
    spec: Spec
    rootfs: list[Mount]
    # A directory owned by the runtime for this container (its bundle); the
    # engine creates it and removes it after ``delete``.
    bundle: Path
    # Where the container's output goes, one line per record in the CRI log
    # format (``pouch.logs``), written by the runtime's monitor.
    log_path: Path
    log_max_size: int = 0


class RuntimeState(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: str
    status: Literal["created", "running", "paused", "stopped"]
    pid: int = 0
    exit_code: int | None = None
    finished_at: float = 0.0
    oom_killed: bool = False


class ExitStatus(msgspec.Struct, kw_only=True):
    exit_code: int
    finished_at: float
    oom_killed: bool = False


class Stats(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One sample of a container's resource usage (cgroup counters)."""

    read_at: float
    cpu_usage_ns: int = 0
    memory_usage: int = 0
    memory_limit: int = 0
    pids: int = 0
    block_read: int = 0
    block_write: int = 0


class StdioStream(Protocol):
    """A live connection to a process's stdio (attach, or an exec's pipes)."""

    async def write(self, data: bytes) -> None:
        """Send bytes to the process's stdin."""

    async def close_stdin(self) -> None: ...

    def output(self) -> AsyncIterator[tuple[Literal["stdout", "stderr"], bytes]]:
        """Chunks of output as they come; ends when the process closes its output."""

    async def resize(self, height: int, width: int) -> None: ...

    async def aclose(self) -> None:
        """Drop the connection; the process goes on."""


class ExecProcess(StdioStream, Protocol):
    """A process started by ``Runtime.exec``; owned by whoever started it."""

    async def wait(self) -> int:
        """The exit code (128+N when killed by signal N)."""

    async def kill(self, signal: int) -> None: ...


@runtime_checkable
class Runtime(Protocol):
    """Runs containers, under a monitor of its own that outlives the engine."""

    name: str

    def describe(self) -> DriverInfo: ...

    async def create(self, container: RuntimeContainer) -> RuntimeState:
        """Make the container ready to start (processes may exist, not the user's)."""

    async def start(self, container_id: str) -> RuntimeState:
        """Start the user's process; returns once it runs."""

    async def kill(self, container_id: str, signal: int) -> None:
        """Send ``signal`` to the container's init process; no error if it just exited."""

    async def wait(self, container_id: str) -> ExitStatus:
        """Return when the container's process has exited.

        Must work for containers created by an earlier engine process (after a
        restart the engine calls it again for each one still running).
        """

    async def state(self, container_id: str) -> RuntimeState:
        """Raise ``pouch.errors.NoSuchContainer`` when the runtime does not know it."""

    async def delete(self, container_id: str) -> None:
        """Remove every trace (processes, cgroups, mounts, bundle files); idempotent."""

    async def list(self) -> list[RuntimeState]:
        """Every container this runtime holds, for reconciliation at start-up."""

    async def pause(self, container_id: str) -> None: ...

    async def resume(self, container_id: str) -> None: ...

    async def update(self, container_id: str, resources: LinuxResources) -> None: ...

    async def exec(self, container_id: str, exec_id: str, process: Process) -> ExecProcess:
        """Start ``process`` inside the running container."""

    async def stats(self, container_id: str) -> Stats: ...

    async def attach(self, container_id: str) -> StdioStream:
        """Connect to the running container's stdin and terminal ("attach" capability).

        Output is read from the log by the engine; this connection carries input.
        """

    async def resize(self, container_id: str, height: int, width: int) -> None:
        """Resize the container's terminal ("tty" capability)."""


class NetworkAttachment(msgspec.Struct, omit_defaults=True, kw_only=True):
    network: str
    interface: str = ""
    ips: list[str] = []  # CIDR notation
    gateway: str = ""
    mac: str = ""
    # Name servers and search domains for the container's resolv.conf.
    dns: list[str] = []
    dns_search: list[str] = []
    # Lines ("ip name") the driver wants in the sandbox's /etc/hosts, e.g. the
    # peers on a user-defined network; the driver keeps them current afterwards.
    hosts: list[str] = []
    # The ports published through this attachment (host_port 0 resolved).
    ports: list[PortMapping] = []
    # Opaque data the driver needs to detach later (e.g. a cached CNI result).
    driver_state: bytes = b""


@runtime_checkable
class NetworkDriver(Protocol):
    """Attaches sandboxes to networks (CNI bridge, host, none …)."""

    name: str

    def describe(self) -> DriverInfo: ...

    async def create_network(self, name: str, options: dict[str, str]) -> None:
        """Create the network; InvalidArgument for a bad or overlapping subnet."""

    async def remove_network(self, name: str) -> None: ...

    async def attach(
        self, sandbox: Sandbox, network: str, options: dict[str, str]
    ) -> NetworkAttachment:
        """Connect the sandbox's namespace; undo everything itself if it fails part-way."""

    async def detach(self, sandbox: Sandbox, attachment: NetworkAttachment) -> None:
        """Disconnect; idempotent, and works after an engine restart."""

    async def gc(self, live_sandboxes: set[str]) -> None:
        """Release attachments of sandboxes that no longer exist."""

    # A driver whose describe() lists the capability "netns" gets a sandbox with
    # a pinned network namespace (``Sandbox.netns_path``) to configure; the
    # built-in host and none drivers do not need one.


class VolumeInfo(msgspec.Struct, omit_defaults=True, kw_only=True):
    name: str
    driver: str
    mountpoint: str = ""
    created_at: float = 0.0
    labels: dict[str, str] = {}
    options: dict[str, str] = {}


@runtime_checkable
class VolumeDriver(Protocol):
    """Named volumes: create, then stage and publish per container (CSI-shaped)."""

    name: str

    def describe(self) -> DriverInfo: ...

    async def create(
        self, name: str, options: dict[str, str], labels: dict[str, str]
    ) -> VolumeInfo: ...

    async def remove(self, name: str) -> None: ...

    async def get(self, name: str) -> VolumeInfo:
        """Raise ``pouch.errors.NoSuchObject`` when it does not exist."""

    async def list(self) -> list[VolumeInfo]: ...

    async def mount(self, name: str, container_id: str) -> str:
        """Make the volume available for one container; return the host path.

        Idempotent per (volume, container).
        """

    async def unmount(self, name: str, container_id: str) -> None:
        """Undo ``mount`` for one container; idempotent."""


@runtime_checkable
class Service(Protocol):
    """A long-running part of a plugin (a gRPC server …), run in the engine's task group."""

    name: str

    async def serve(self) -> None:
        """Run until cancelled."""
