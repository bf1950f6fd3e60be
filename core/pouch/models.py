"""The container model: what a user asks for and what the engine records.

``ContainerConfig`` is validated input: every field has a type and, where the
type is not enough, a check in ``__post_init__`` whose message msgspec prefixes
with the path of the offending field (``$.resources.memory``). The records
(``Container``, ``ContainerState``) are what the store persists, one row each.

This module must not import anything that does I/O: it is shared by the CLI,
the daemon and every plugin.
"""

from __future__ import annotations

import enum
import re
import signal
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from pouch._model_sharing import HOST_GATEWAY, check_sharing, container_ref, split_host
from pouch.drivers import Endpoint, NetworkAttachment, PortMapping

__all__ = [
    "CAPABILITIES",
    "HOST_GATEWAY",
    "Container",
    "ContainerConfig",
    "ContainerState",
    "Device",
    "Endpoint",
    "ExecConfig",
    "Health",
    "HealthResult",
    "Healthcheck",
    "Input",
    "Mount",
    "Network",
    "PortMapping",
    "Record",
    "Resources",
    "RestartPolicy",
    "State",
    "Ulimit",
    "container_ref",
    "parse_signal",
    "parse_size",
    "split_host",
]


class Input(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base for structs decoded from user input: unknown fields are errors."""


class Record(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base for structs the engine writes itself (tolerant when read back)."""


# Every capability the kernel knows (capabilities(7)), without the CAP_ prefix.
CAPABILITIES = frozenset(
    [
        "AUDIT_CONTROL",
        "AUDIT_READ",
        "AUDIT_WRITE",
        "BLOCK_SUSPEND",
        "BPF",
        "CHECKPOINT_RESTORE",
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "IPC_LOCK",
        "IPC_OWNER",
        "KILL",
        "LEASE",
        "LINUX_IMMUTABLE",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "MKNOD",
        "NET_ADMIN",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_RAW",
        "PERFMON",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_CHROOT",
        "SYS_MODULE",
        "SYS_NICE",
        "SYS_PACCT",
        "SYS_PTRACE",
        "SYS_RAWIO",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "SYSLOG",
        "WAKE_ALARM",
    ]
)

_ENV_NAME = re.compile(r"^[^=\s][^=]*$")
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_SYSCTL = re.compile(r"^[a-z0-9_]+(\.[a-zA-Z0-9_\-]+)+$")


def parse_signal(value: str | int) -> int:
    """``"SIGTERM"``, ``"TERM"``, ``"15"`` or ``15`` → 15; ValueError otherwise."""
    if isinstance(value, int) or value.isdigit():
        number = int(value)
        if 1 <= number <= 64:
            return number
        raise ValueError(f"signal {value!r} is out of range 1-64")
    name = value.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN+") and name[9:].isdigit():
        return int(signal.SIGRTMIN) + int(name[9:])
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {value!r}") from None


def parse_size(text: str) -> int:
    """docker's sizes (binary units): ``512k``, ``20m``, ``1g``, ``64MiB``, ``2GB`` or bytes."""
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
    match = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?", text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a size like 512k, 10m, 1g or 64MiB")
    return int(float(match.group(1)) * units[match.group(2)])


LOG_OPTIONS = ("max-size", "max-file", "path")


def _absolute(path: str, what: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"{what} {path!r} must be an absolute path")


def _capability(name: str) -> str:
    bare = name.upper().removeprefix("CAP_")
    if bare != "ALL" and bare not in CAPABILITIES:
        raise ValueError(f"unknown capability {name!r}")
    return bare


_PROTOCOLS = ("tcp", "udp", "sctp")


def _exposed_port(text: str) -> str:
    """``"80"``, ``"80/udp"`` → ``"80/tcp"``, ``"80/udp"``; ValueError otherwise."""
    number, _, protocol = text.partition("/")
    protocol = protocol.lower() or "tcp"
    if not number.isdigit() or not 1 <= int(number) <= 65535 or protocol not in _PROTOCOLS:
        raise ValueError(f"exposed port {text!r} is not a port like 80/tcp")
    return f"{int(number)}/{protocol}"


class Mount(Input):
    """A bind mount, a named volume or a tmpfs inside the container."""

    target: str
    type: Literal["bind", "volume", "tmpfs"] = "bind"
    source: str = ""
    read_only: bool = False
    options: list[str] = []
    driver: str = ""  # volume driver for type=volume; empty = the engine's default

    def __post_init__(self) -> None:
        _absolute(self.target, "mount target")
        if self.type == "bind":
            _absolute(self.source, "bind mount source")
        elif self.type == "volume" and self.source and "/" in self.source:
            raise ValueError(f"volume name {self.source!r} must not contain '/'")
        elif self.type == "tmpfs" and self.source:
            raise ValueError("a tmpfs mount takes no source")


class Device(Input):
    """A host device node made available in the container (docker's ``--device``)."""

    path_on_host: str
    path_in_container: str = ""  # "" is path_on_host
    permissions: str = "rwm"  # the device cgroup access: any of r, w, m

    def __post_init__(self) -> None:
        _absolute(self.path_on_host, "device path")
        if self.path_in_container:
            _absolute(self.path_in_container, "device path in the container")
        if not self.permissions or set(self.permissions) - set("rwm"):
            raise ValueError(f"device permissions {self.permissions!r} are not some of rwm")


class Ulimit(Input):
    name: str
    soft: Annotated[int, msgspec.Meta(ge=-1)]
    hard: Annotated[int, msgspec.Meta(ge=-1)]

    def __post_init__(self) -> None:
        if self.hard != -1 and (self.soft == -1 or self.soft > self.hard):
            raise ValueError(f"ulimit {self.name}: soft limit {self.soft} exceeds hard {self.hard}")


class Resources(Input):
    """cgroup limits. ``None`` leaves the runtime's default (no limit)."""

    memory: Annotated[int, msgspec.Meta(ge=6 * 1024 * 1024)] | None = None
    memory_reservation: Annotated[int, msgspec.Meta(ge=0)] | None = None
    # memory + swap in bytes; -1 means unlimited swap.
    memory_swap: Annotated[int, msgspec.Meta(ge=-1)] | None = None
    cpus: Annotated[float, msgspec.Meta(gt=0, le=1024)] | None = None
    cpu_shares: Annotated[int, msgspec.Meta(ge=2, le=262144)] | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: Annotated[int, msgspec.Meta(ge=-1)] | None = None
    blkio_weight: Annotated[int, msgspec.Meta(ge=10, le=1000)] | None = None
    # The kernel's swap tendency for the container's pages (cgroup v1 only).
    memory_swappiness: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None

    def __post_init__(self) -> None:
        for field in ("cpuset_cpus", "cpuset_mems"):
            value = getattr(self, field)
            if value is not None and not _CPUSET.match(value):
                raise ValueError(f"{field} {value!r} is not a list like 0-2,4")
        if self.memory_swap not in (None, -1):
            if self.memory is None:
                raise ValueError("memory_swap needs memory to be set as well")
            if self.memory_swap < self.memory:
                raise ValueError("memory_swap (memory plus swap) must be at least memory")
        if self.pids_limit == 0:
            raise ValueError("pids_limit 0 would allow no process; use -1 for unlimited")


class RestartPolicy(Input):
    name: Literal["no", "on-failure", "always", "unless-stopped"] = "no"
    maximum_retry_count: Annotated[int, msgspec.Meta(ge=0)] = 0

    def __post_init__(self) -> None:
        if self.maximum_retry_count and self.name != "on-failure":
            raise ValueError("maximum_retry_count applies only to the on-failure policy")

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """``on-failure:3`` → RestartPolicy("on-failure", 3), as ``--restart`` takes it."""
        name, _, count = text.partition(":")
        if count and not count.isdigit():
            raise ValueError(f"restart policy {text!r}: retry count must be a number")
        return msgspec.convert({"name": name, "maximum_retry_count": int(count or 0)}, cls)


# Docker's healthcheck defaults and bounds, in nanoseconds as its API gives them.
HEALTH_INTERVAL = 30_000_000_000
HEALTH_TIMEOUT = 30_000_000_000
HEALTH_START_INTERVAL = 5_000_000_000
HEALTH_RETRIES = 3
_HEALTH_MINIMUM = 1_000_000  # 1ms, below which docker refuses a duration


class Healthcheck(Input):
    """How to probe a running container, as docker's ``Healthcheck``.

    ``test``: ``["CMD", prog, args...]``, ``["CMD-SHELL", "command line"]``,
    ``["NONE"]`` (no check, also none the image gives) or ``[]`` (the image's).
    Durations are nanoseconds; 0 takes the default (interval and timeout
    30s, start_period 0, start_interval 5s), as does ``retries`` 0 (3).
    """

    test: list[str] = []
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def __post_init__(self) -> None:
        if self.test:
            kind = self.test[0]
            if kind not in ("CMD", "CMD-SHELL", "NONE"):
                raise ValueError(f"test must start with CMD, CMD-SHELL or NONE, not {kind!r}")
            if kind != "NONE" and not any(self.test[1:]):
                raise ValueError(f"test {kind} needs a command after it")
        for field in ("interval", "timeout", "start_period", "start_interval"):
            value = getattr(self, field)
            if value < 0:
                raise ValueError(f"{field} cannot be negative ({value}ns given)")
            if 0 < value < _HEALTH_MINIMUM:
                raise ValueError(f"{field} cannot be less than 1ms ({value}ns given; 0 = default)")
        if self.retries < 0:
            raise ValueError(f"retries cannot be negative ({self.retries} given)")

    @property
    def disabled(self) -> bool:
        """No probe runs: ``["NONE"]``, or no command at all."""
        return not self.test or self.test[0] == "NONE"

    def command(self) -> list[str]:
        """The probe's argv: CMD's own, CMD-SHELL's through ``/bin/sh -c``."""
        if self.test[0] == "CMD-SHELL":
            return ["/bin/sh", "-c", *self.test[1:]]
        return list(self.test[1:])

    def docker_fields(self) -> dict[str, Any]:
        """The fields under docker's names (a container's or an image's ``Healthcheck``)."""
        return {
            "Test": list(self.test),
            "Interval": self.interval,
            "Timeout": self.timeout,
            "StartPeriod": self.start_period,
            "StartInterval": self.start_interval,
            "Retries": self.retries,
        }

    def merged(self, image: Healthcheck | None) -> Healthcheck:
        """This check with what it leaves unset taken from the image's, as docker merges."""
        if image is None:
            return self
        given = {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f)}
        return msgspec.structs.replace(image, **given)


class ContainerConfig(Input):
    """Everything a user can ask of one container."""

    image: Annotated[str, msgspec.Meta(min_length=1)]
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = []
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    labels: dict[str, str] = {}
    mounts: list[Mount] = []
    ports: list[PortMapping] = []
    # Ports the container listens on ("80/tcp"), the image's included: docker's
    # ExposedPorts. With publish_all_ports each one not in ``ports`` is
    # published on a free host port.
    exposed_ports: list[str] = []
    publish_all_ports: bool = False
    # Networks to join; empty means the engine's default network. "host" and
    # "none" are network names too.
    networks: list[str] = []
    # Share the network namespace (and hosts, resolv.conf, hostname) of this
    # container, docker's ``--network container:NAME``; the engine stores its ID.
    network_container: str = ""
    # Per-network settings (aliases, fixed addresses), by network name.
    endpoints: dict[str, Endpoint] = {}
    resources: Resources = msgspec.field(default_factory=Resources)
    restart_policy: RestartPolicy = msgspec.field(default_factory=RestartPolicy)
    runtime: str = ""  # empty selects the engine's default runtime
    read_only_rootfs: bool = False
    privileged: bool = False
    cap_add: list[str] = []
    cap_drop: list[str] = []
    no_new_privileges: bool = False
    # "" is the engine's default profile, "unconfined" none, else a profile's
    # JSON in Docker's format (what ``--security-opt seccomp=FILE`` sends).
    seccomp_profile: str = ""
    sysctls: dict[str, str] = {}
    tmpfs: dict[str, str] = {}  # target -> mount options
    ulimits: list[Ulimit] = []
    stop_signal: str = "SIGTERM"
    stop_timeout: Annotated[int, msgspec.Meta(ge=0)] = 10
    init: bool = False
    # PouchContainer's rich container: an init as PID 1 that runs the image's
    # services ("" is "dumb-init" when ``rich`` is set); ``initscript``, a path
    # in the container, runs before it at every start (the pouch.builtins.rich plugin).
    rich: bool = False
    rich_mode: Literal["", "dumb-init", "sbin-init", "systemd"] = ""
    initscript: str = ""
    # "host" keeps the container out of the engine's user-namespace remapping.
    userns_mode: Literal["", "host"] = ""
    # Docker's --storage-opt: "size" limits the writable layer (disk quota).
    storage_opt: dict[str, str] = {}
    # lxcfs's /proc files (the pouch-isolation plugin); None: the daemon's default.
    enable_lxcfs: bool | None = None
    tty: bool = False
    open_stdin: bool = False
    # Close the container's stdin when the client that attached it goes away
    # (docker's StdinOnce, which ``run -i`` sets); a detach never closes it.
    stdin_once: bool = False
    # Remove the container (as ``docker run --rm``) once it has exited.
    auto_remove: bool = False
    log_options: dict[str, str] = {}
    # "none" keeps no log to read back (docker's --log-driver none); "" is json-file.
    log_driver: Literal["", "json-file", "local", "k8s-file", "none"] = ""
    # Namespaces: "" is the container's own; "host" the host's; "container:NAME"
    # joins a running container's (ipc also takes private, shareable, none).
    pid_mode: str = ""
    ipc_mode: str = ""
    uts_mode: str = ""
    # "" and "private": the cgroup namespace the engine picks (private on
    # cgroup v2), "host" none.
    cgroupns_mode: Literal["", "host", "private"] = ""
    devices: list[Device] = []
    # Device cgroup rules as docker writes them: "c 1:3 rwm", "b 8:* r", "a *:* rwm".
    device_cgroup_rules: list[str] = []
    # Bytes of the /dev/shm tmpfs; 0 is the default (64 MiB). Ignored when
    # /dev/shm is not the container's own (ipc_mode host, none, container:).
    shm_size: Annotated[int, msgspec.Meta(ge=0)] = 0
    # Supplementary groups: numbers, or names from the container's /etc/group.
    group_add: list[str] = []
    # "NAME:IP" lines for /etc/hosts; IP "host-gateway" is the host's address.
    extra_hosts: list[str] = []
    dns: list[str] = []
    dns_search: list[str] = []
    dns_options: list[str] = []
    # "NAME[:ro|:rw]": every volume and bind mount of container NAME, at create.
    volumes_from: list[str] = []
    # docker's legacy links "NAME[:ALIAS]": a hosts line and NAME's variables.
    links: list[str] = []
    # None (or an empty test) takes the image's healthcheck; ["NONE"] disables it.
    healthcheck: Healthcheck | None = None

    def __post_init__(self) -> None:
        check_sharing(self)
        for index, item in enumerate(self.env):
            name = item.partition("=")[0]
            if not _ENV_NAME.match(name):
                raise ValueError(f"env[{index}] {item!r} is not NAME=VALUE")
        if self.working_dir:
            _absolute(self.working_dir, "working_dir")
        if self.hostname and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,62}", self.hostname):
            raise ValueError(f"hostname {self.hostname!r} is not a valid host name")
        self.cap_add = [_capability(c) for c in self.cap_add]
        self.cap_drop = [_capability(c) for c in self.cap_drop]
        for key in self.sysctls:
            if not _SYSCTL.match(key):
                raise ValueError(f"sysctl {key!r} is not a dotted kernel parameter name")
        for target in self.tmpfs:
            _absolute(target, "tmpfs target")
        self.exposed_ports = [_exposed_port(p) for p in self.exposed_ports]
        if self.network_container and (self.networks not in ([], ["none"]) or self.ports):
            raise ValueError(
                "network_container: a container sharing another's network joins no network"
                " and publishes no port of its own"
            )
        if self.network_container and (self.hostname or self.endpoints):
            raise ValueError(
                "network_container: the hostname and endpoints are the other container's"
            )
        for network in self.endpoints:
            if network not in self.networks:
                raise ValueError(f"endpoints names network {network!r}, not one of networks")
        parse_signal(self.stop_signal)
        if (self.rich_mode or self.initscript) and not self.rich:
            field = "rich_mode" if self.rich_mode else "initscript"
            raise ValueError(f"{field} needs rich: add --rich")
        if self.initscript:
            _absolute(self.initscript, "initscript")
        if self.rich and self.init:
            raise ValueError("init and rich conflict: a rich container has its own init")
        if self.auto_remove and self.restart_policy.name != "no":
            raise ValueError(
                "auto_remove and a restart policy conflict: a removed container cannot restart"
            )
        for key, value in self.log_options.items():
            if key not in LOG_OPTIONS:
                raise ValueError(f"unknown log option {key!r} (use {' or '.join(LOG_OPTIONS)})")
            if key == "max-size" and parse_size(value) < 4096:
                raise ValueError(f"log option max-size {value!r} is below 4k")
            if key == "path":
                _absolute(value, "log option path")
            if key == "max-file" and not (value.isdigit() and int(value) >= 1):
                raise ValueError(f"log option max-file {value!r} must be a number of at least 1")
        for key, value in self.storage_opt.items():
            if key != "size":
                raise ValueError(f"storage_opt {key!r} is not supported (size=SIZE is)")
            parse_size(value)
        targets = [m.target for m in self.mounts] + list(self.tmpfs)
        duplicates = {t for t in targets if targets.count(t) > 1}
        if duplicates:
            raise ValueError(f"more than one mount at {sorted(duplicates)[0]}")


class ExecConfig(Input):
    """A process to run in a running container (``exec``)."""

    cmd: Annotated[list[str], msgspec.Meta(min_length=1)]
    env: list[str] = []
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    stdin: bool = False
    privileged: bool = False
    # The terminal's (height, width) when the process starts, so that it never
    # sees a size of 0 (docker's ExecStartConfig.ConsoleSize); with tty only.
    console_size: (
        tuple[Annotated[int, msgspec.Meta(ge=1)], Annotated[int, msgspec.Meta(ge=1)]] | None
    ) = None

    def __post_init__(self) -> None:
        for index, item in enumerate(self.env):
            if not _ENV_NAME.match(item.partition("=")[0]):
                raise ValueError(f"env[{index}] {item!r} is not NAME=VALUE")
        if self.working_dir:
            _absolute(self.working_dir, "working_dir")


class Network(Record):
    """A network containers can join; ``driver`` names the network driver."""

    name: str
    id: str
    driver: str
    created_at: float = 0.0
    # Driver options as given at creation (subnet, gateway, bridge name …).
    options: dict[str, str] = {}
    labels: dict[str, str] = {}
    # The engine's own networks (host, none, the default one) cannot be removed.
    builtin: bool = False


class State(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    EXITED = "exited"
    DEAD = "dead"


class HealthResult(Record):
    """One probe: wall-clock start and end, its exit code, its output (up to 4096 bytes)."""

    start: float
    end: float
    exit_code: int
    output: str = ""


class Health(Record):
    """A running container's health, as the probes found it."""

    status: Literal["starting", "healthy", "unhealthy"] = "starting"
    failing_streak: int = 0
    log: list[HealthResult] = []


class ContainerState(Record):
    status: State = State.CREATED
    pid: int = 0
    exit_code: int | None = None
    error: str = ""
    oom_killed: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    restart_count: int = 0
    # Set by an explicit stop; "unless-stopped" and "always" honour it.
    stopped_by_user: bool = False
    # Only for a container with a healthcheck; kept after it exits.
    health: Health | None = None


class Container(Record):
    """One container as the engine records it."""

    id: str
    name: str
    config: ContainerConfig
    image_id: str
    runtime: str
    created_at: float
    state: ContainerState = msgspec.field(default_factory=ContainerState)
    # The sandbox the container belongs to; a plain container is its own.
    sandbox_id: str = ""
    # The OCI runtime spec after every plugin's create hook, JSON-encoded.
    spec: bytes = b""
    # The log file: in ``directory``, or where the ``path`` log option puts it.
    log_path: str = ""
    # The engine's files of the container (bundle-independent: hosts, shm …);
    # "" in records made before it was kept: the log's directory then.
    directory: str = ""
    # Networks the container is attached to while it runs, and the pinned
    # network namespace they live in ("" when the runtime makes its own).
    attachments: list[NetworkAttachment] = []
    netns_path: str = ""
    # Named volumes mounted for it: (driver, volume name) pairs.
    volumes: list[tuple[str, str]] = []
    # Free-form data runtimes and plugins keep per container (not interpreted).
    annotations: dict[str, Any] = {}

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def home(self) -> Path:
        """The directory of the engine's files of this container."""
        return Path(self.directory or Path(self.log_path).parent)
