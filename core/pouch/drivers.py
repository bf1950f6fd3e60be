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

import enum
import ipaddress
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, runtime_checkable

import msgspec

if TYPE_CHECKING:
    from pouch.oci import LinuxResources, Process, Spec

__all__ = [
    "Capability",
    "DriverInfo",
    "Endpoint",
    "ExecProcess",
    "ExitStatus",
    "LogReopener",
    "Mount",
    "NetworkAttachment",
    "NetworkDriver",
    "PortMapping",
    "Runtime",
    "RuntimeContainer",
    "RuntimeState",
    "Sandbox",
    "SandboxRuntime",
    "SandboxState",
    "Service",
    "StagedVolume",
    "Stats",
    "StdioStream",
    "UpdatableVolumeDriver",
    "VolumeDriver",
    "VolumeInfo",
]


class Capability(enum.StrEnum):
    """What a driver can do beyond its required methods, as ``describe()`` lists it.

    The engine, the API and the conformance kits ask a driver for these before
    they call an optional method; a method whose capability is not declared may
    raise ``pouch.errors.NotSupported``. Values are plain strings, so
    ``"exec" in info.capabilities`` keeps working.
    """

    # -- runtimes -------------------------------------------------------------
    #: ``Runtime.exec`` starts processes in a running container.
    EXEC = "exec"
    #: ``Runtime.pause`` / ``resume`` freeze and thaw a container.
    PAUSE = "pause"
    #: ``Runtime.update`` changes resource limits of a running container.
    UPDATE = "update"
    #: ``Runtime.stats`` samples resource usage.
    STATS = "stats"
    #: an exit by the kernel's OOM killer is reported (``ExitStatus.oom_killed``)
    #: whenever it happens, also in the container's first milliseconds.
    OOM_KILLED = "oom-killed"
    #: those samples count the container's block I/O (``block_read``,
    #: ``block_write``): a VM writing to a shared file system has none.
    BLOCK_STATS = "block-stats"
    #: a container can have a terminal (``process.terminal``); ``Runtime.resize`` works.
    TTY = "tty"
    #: ``Runtime.attach`` connects to the main process's stdin.
    ATTACH = "attach"
    #: containers outlive the engine and are found again by ``list``/``wait``.
    RESTORE = "restore"
    #: the spec's cgroup limits are enforced.
    RESOURCES = "resources"
    #: processes are isolated from the host (PID, mount, UTS, IPC namespaces).
    NAMESPACES = "namespaces"
    #: the spec's ``linux.seccomp`` filter is applied to every process of the
    #: container. Without it the engine leaves the default filter out (with a
    #: log line) and refuses a container that asks for a profile.
    SECCOMP = "seccomp"
    #: a user namespace in the spec (``linux.uidMappings``) is created, so the
    #: engine's ``userns_remap`` can apply to the runtime's containers.
    USERNS = "userns"
    #: the runtime implements ``SandboxRuntime``: it holds a sandbox (a pod, a
    #: VM) of its own and creates containers inside it. Without it the engine
    #: treats every container as a sandbox of one and the runtime never hears
    #: of sandboxes.
    SANDBOXES = "sandboxes"
    #: the spec's ``linux.devices`` nodes are created in the container (``--device``).
    DEVICES = "devices"
    #: the spec's OCI hooks run at their stages, with the state on stdin, and a
    #: failing hook before the start fails it (an initscript, hook files).
    HOOKS = "hooks"
    #: with the engine's ``cgroup_manager = "systemd"``, a ``cgroupsPath`` of the
    #: form ``slice:prefix:name`` is a transient systemd scope the runtime asks
    #: systemd for (runc's and crun's ``--systemd-cgroup``). Runtimes without it
    #: get a cgroupfs path whatever the manager.
    SYSTEMD_CGROUP = "systemd-cgroup"
    #: the runtime's monitor rotates the container's log itself, also while
    #: the engine is down: at ``log_max_size`` bytes the file becomes
    #: ``log_path.1`` (older ones move up, those beyond ``log_max_files`` go)
    #: and a new one starts (``pouch.logs.LogWriter`` does this). Without it
    #: the engine rotates the log while it runs and then calls ``reopen_log``
    #: (``LogReopener``).
    LOG_ROTATION = "log-rotation"
    #: once the container's process has exited, nothing of it stays in use on
    #: the host but the state ``delete`` removes (no VM, no process): the engine
    #: may tell clients of a ``--rm`` removal first and ``delete`` after. Without
    #: it (a VM lives until deleted) ``delete`` comes before.
    DELETE_LATER = "delete-later"

    # -- network drivers --------------------------------------------------------
    #: the driver configures a pinned network namespace (``Sandbox.netns_path``).
    NETNS = "netns"
    #: ``Sandbox.ports`` are published on the host.
    PORTS = "ports"
    #: sandboxes on one network resolve each other by name and by the
    #: ``Endpoint.aliases`` they joined it with.
    NAMES = "names"
    #: ``Endpoint.ipv4_address``, ``ipv6_address`` and ``mac_address`` are honoured.
    STATIC_ADDRESS = "static-address"
    #: sandboxes on different networks cannot reach each other.
    ISOLATION = "isolation"
    #: attachments can be checked (CNI CHECK).
    CHECK = "check"
    #: ``gc`` releases what sandboxes that no longer exist left behind.
    GC = "gc"

    # -- volume drivers ---------------------------------------------------------
    #: ``stage`` does real per-node work (a device attached, a filesystem
    #: mounted once for every container); without it staging is bookkeeping.
    STAGE = "stage"
    #: a volume can be published read-only to one container and read-write to another.
    READ_ONLY = "read-only"
    #: ``update`` changes a volume's options in place (``UpdatableVolumeDriver``).
    UPDATE_VOLUME = "update-volume"


class DriverInfo(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What ``describe()`` reports: shown by ``pouch info`` and ``plugin ls``."""

    name: str
    version: str = ""
    #: the optional features this driver implements (see ``Capability``).
    capabilities: list[Capability] = []
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


_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_ALIAS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,252}$")


class Endpoint(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """What a sandbox asks of one network it joins (docker's per-endpoint settings).

    A driver honours ``aliases`` if it lists ``Capability.NAMES`` and the
    addresses if it lists ``Capability.STATIC_ADDRESS``; the engine refuses
    them for a driver that does not.
    """

    # More names the other members of the network resolve this sandbox by.
    aliases: list[str] = []
    ipv4_address: str = ""
    ipv6_address: str = ""
    mac_address: str = ""

    def __post_init__(self) -> None:
        for field, version in (("ipv4_address", 4), ("ipv6_address", 6)):
            text = getattr(self, field)
            try:
                if text and ipaddress.ip_address(text).version != version:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{field} {text!r} is not an IPv{version} address") from None
        if self.mac_address and not _MAC.match(self.mac_address):
            raise ValueError(f"mac_address {self.mac_address!r} is not like 02:42:ac:11:00:02")
        for alias in self.aliases:
            if not _ALIAS.match(alias):
                raise ValueError(f"alias {alias!r} is not a valid host name")


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
    # Per-network settings, by network name; a network not named here has none.
    endpoints: dict[str, Endpoint] = {}


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
    # Rotation (``Capability.LOG_ROTATION``): the size of a full file, 0 for
    # none, and how many files the log keeps (``max-size``, ``max-file``).
    log_max_size: int = 0
    log_max_files: int = 1


class RuntimeState(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: str
    status: Literal["created", "running", "paused", "stopped"]
    pid: int = 0
    exit_code: int | None = None
    finished_at: float = 0.0
    oom_killed: bool = False
    #: why the process ended when it was not its own doing ("" otherwise).
    error: str = ""


class ExitStatus(msgspec.Struct, kw_only=True):
    exit_code: int
    finished_at: float
    oom_killed: bool = False
    #: why the process ended when it was not its own doing, e.g. its VM
    #: stopped (shown as the container's ``State.Error``).
    error: str = ""

    def state(self, container_id: str) -> RuntimeState:
        """The stopped state this exit leaves the container in."""
        return RuntimeState(
            id=container_id,
            status="stopped",
            exit_code=self.exit_code,
            finished_at=self.finished_at,
            oom_killed=self.oom_killed,
            error=self.error,
        )


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

    async def close_stdin(self) -> None:
        """Close the process's stdin: it reads end of input."""

    def output(self) -> AsyncIterator[tuple[Literal["stdout", "stderr"], bytes]]:
        """Chunks of output as they come; ends when the process closes its output."""

    async def resize(self, height: int, width: int) -> None:
        """Resize the process's terminal; nothing happens without one."""

    async def aclose(self) -> None:
        """Drop the connection; the process goes on."""


class ExecProcess(StdioStream, Protocol):
    """A process started by ``Runtime.exec``; owned by whoever started it."""

    async def wait(self) -> int:
        """The exit code (128+N when killed by signal N)."""

    async def kill(self, signal: int) -> None:
        """Send ``signal`` to the process; no error if it just exited."""


@runtime_checkable
class Runtime(Protocol):
    """Runs containers, under a monitor of its own that outlives the engine.

    Required: ``create`` … ``list``. The rest belong to a ``Capability`` the
    runtime lists in ``describe()`` and may raise ``NotSupported`` otherwise.
    A runtime that also implements ``SandboxRuntime`` and lists
    ``Capability.SANDBOXES`` holds sandboxes of several containers.
    """

    #: the name users select it by (``--runtime NAME``).
    name: str

    def describe(self) -> DriverInfo:
        """Name, version, the ``Capability`` values it implements, details for ``info``."""

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

    async def pause(self, container_id: str) -> None:
        """Freeze every process of the container (``Capability.PAUSE``)."""

    async def resume(self, container_id: str) -> None:
        """Thaw a paused container (``Capability.PAUSE``)."""

    async def update(self, container_id: str, resources: LinuxResources) -> None:
        """Apply new resource limits to the running container (``Capability.UPDATE``)."""

    async def exec(self, container_id: str, exec_id: str, process: Process) -> ExecProcess:
        """Start ``process`` inside the running container (``Capability.EXEC``)."""

    async def stats(self, container_id: str) -> Stats:
        """One sample of the container's resource usage (``Capability.STATS``)."""

    async def attach(self, container_id: str) -> StdioStream:
        """Connect to the running container's stdin and terminal ("attach" capability).

        Output is read from the log by the engine; this connection carries input.
        """

    async def resize(self, container_id: str, height: int, width: int) -> None:
        """Resize the container's terminal ("tty" capability)."""


class SandboxState(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A sandbox as its runtime reports it."""

    id: str
    status: Literal["created", "ready", "stopped"]
    # The sandbox's infra process (a VM's hypervisor, a pause process), if any.
    pid: int = 0
    details: dict[str, str] = {}


@runtime_checkable
class LogReopener(Protocol):
    """A runtime whose monitor keeps the log file open, and opens it again when asked.

    Log rotation by someone else than the monitor needs this: kubelet renames
    the file (the engine then creates the new one at the log path before it
    calls), or the engine keeps ``max-file`` generations for a runtime without
    ``Capability.LOG_ROTATION`` (the path is then empty until the monitor
    makes its new file). A monitor that writes with ``pouch.logs.LogWriter``
    follows a replaced file by itself and needs no such method.
    """

    async def reopen_log(self, container_id: str) -> None:
        """Make the monitor write to the file at the log path, made if missing; no error
        once exited."""


@runtime_checkable
class SandboxRuntime(Protocol):
    """A runtime that holds sandboxes of its own (``Capability.SANDBOXES``).

    A sandbox is what a group of containers shares: namespaces, a VM, an infra
    process. The engine makes the sandbox's network namespace and its
    hostname, hosts and resolv.conf files first, then calls ``create_sandbox``
    and ``start_sandbox``, then creates each container with
    ``RuntimeContainer.sandbox`` naming it; after the last container is
    deleted it calls ``stop_sandbox`` and ``delete_sandbox``. Every method is
    idempotent: the engine repeats them after a crash.

    Runtimes without the capability never see these calls: each container is a
    sandbox of one and lives and dies with it.
    """

    async def create_sandbox(self, sandbox: Sandbox) -> SandboxState:
        """Prepare the sandbox (boot the VM, start the infra process); idempotent."""

    async def start_sandbox(self, sandbox_id: str) -> SandboxState:
        """Make the sandbox ready to run containers; returns once it is ``ready``."""

    async def stop_sandbox(self, sandbox_id: str) -> None:
        """Stop what runs in the sandbox; no error if it is already stopped."""

    async def delete_sandbox(self, sandbox_id: str) -> None:
        """Remove every trace of the sandbox; no error if it is gone."""

    async def sandbox_state(self, sandbox_id: str) -> SandboxState:
        """Raise ``pouch.errors.NoSuchObject`` when the runtime does not know it."""

    async def list_sandboxes(self) -> list[SandboxState]:
        """Every sandbox this runtime holds, for reconciliation at start-up."""


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
    """Attaches sandboxes to networks (CNI bridge, host, none …).

    A driver whose ``describe()`` lists ``Capability.NETNS`` gets a sandbox with
    a pinned network namespace (``Sandbox.netns_path``) to configure; the
    built-in host and none drivers do not need one.
    """

    #: the name networks are created with (``--driver NAME``).
    name: str

    def describe(self) -> DriverInfo:
        """Name, version and ``Capability`` values (``NETNS``, ``PORTS``, ``NAMES`` …)."""

    async def create_network(self, name: str, options: dict[str, str]) -> None:
        """Create the network; InvalidArgument for a bad or overlapping subnet."""

    async def remove_network(self, name: str) -> None:
        """Delete the network; the engine only asks when no sandbox is attached."""

    async def attach(
        self, sandbox: Sandbox, network: str, options: dict[str, str]
    ) -> NetworkAttachment:
        """Connect the sandbox's namespace; undo everything itself if it fails part-way."""

    async def detach(self, sandbox: Sandbox, attachment: NetworkAttachment) -> None:
        """Disconnect; idempotent, and works after an engine restart."""

    async def gc(self, live_sandboxes: set[str]) -> None:
        """Release attachments of sandboxes that no longer exist."""


class VolumeInfo(msgspec.Struct, omit_defaults=True, kw_only=True):
    name: str
    driver: str
    mountpoint: str = ""
    created_at: float = 0.0
    labels: dict[str, str] = {}
    options: dict[str, str] = {}
    # What the driver reports about the volume (docker's ``Status``): a CSI
    # volume's capacity, ID, context and usage, for example.
    status: dict[str, Any] = {}


class StagedVolume(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A volume made ready on this node, once for every container that uses it.

    The engine records it and hands it back to ``publish`` and ``unstage``; a
    driver keeps in ``staging_path`` and ``context`` whatever it needs then
    (a CSI driver's staging target path and publish context).
    """

    name: str
    driver: str
    staging_path: str = ""
    context: dict[str, str] = {}


@runtime_checkable
class VolumeDriver(Protocol):
    """Named volumes, staged once per node and published per container (CSI's shape).

    The engine calls ``stage`` before a volume's first container starts using
    it, ``publish`` for each container, ``unpublish`` when the container is
    removed and ``unstage`` when the last user is gone. It records every step
    before it returns, so after a crash it repeats what is unfinished: each
    step must be idempotent. ``publish`` returns a mount *description*: a
    runtime decides how to present it (runc bind-mounts it, a VM runtime
    shares it into the guest).
    """

    name: str

    def describe(self) -> DriverInfo:
        """Name, version and ``Capability`` values (``STAGE``, ``READ_ONLY``)."""

    async def create(
        self, name: str, options: dict[str, str], labels: dict[str, str]
    ) -> VolumeInfo:
        """Create the volume, or return it when it exists; ``InvalidArgument`` for bad options."""

    async def remove(self, name: str) -> None:
        """Delete the volume and its data; ``NoSuchObject`` when it does not exist.

        The engine never removes a volume a container still uses.
        """

    async def get(self, name: str) -> VolumeInfo:
        """Raise ``pouch.errors.NoSuchObject`` when it does not exist."""

    async def list(self) -> list[VolumeInfo]:
        """Every volume of this driver."""

    async def stage(self, volume: VolumeInfo) -> StagedVolume:
        """Make the volume ready on this node (attach, format, mount once); idempotent."""

    async def publish(
        self, staged: StagedVolume, container_id: str, *, read_only: bool = False
    ) -> Mount:
        """Make the staged volume available to one container; idempotent per container.

        Returns the mount to perform at the container's mount point; its
        options carry ``ro`` when ``read_only``.
        """

    async def unpublish(self, staged: StagedVolume, container_id: str) -> None:
        """Undo ``publish`` for one container; idempotent, also when never published."""

    async def unstage(self, staged: StagedVolume) -> None:
        """Undo ``stage`` once no container uses the volume; idempotent."""


@runtime_checkable
class UpdatableVolumeDriver(Protocol):
    """A volume driver that declares ``Capability.UPDATE_VOLUME`` has this method too."""

    async def update(self, name: str, options: dict[str, str]) -> VolumeInfo:
        """Change the options given (a larger ``size``…); ``InvalidArgument`` naming one
        that cannot change, ``Conflict`` when it cannot change now (the driver says why)."""


@runtime_checkable
class Service(Protocol):
    """A long-running part of a plugin (a gRPC server …), run in the engine's task group."""

    name: str

    async def serve(self) -> None:
        """Run until cancelled."""
