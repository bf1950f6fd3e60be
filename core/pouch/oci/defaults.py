"""The default OCI runtime spec of a container, built the way Docker builds it.

Owns ``build_spec`` (a ``ContainerConfig`` plus its image's defaults → a
``Spec``), ``resources_from`` (cgroup limits alone, for ``update`` on a running
container) and ``detect_cgroup_version``. The merge rules for the process live
in ``_process``, the mounts in ``_mounts`` and the capability rules in
``capabilities``.

This module must not resolve anything inside the container's filesystem (user
names, volumes) and must not call a runtime: it reads only the host's cgroup
mount, its capability count and the daemon's own rlimits, and each of those
can be passed in instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pouch.errors import InvalidArgument
from pouch.models import ContainerConfig, Resources

from ._modes import device_nodes, device_rules, namespaces, shm_mount
from ._mounts import (
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    combine_mounts,
    default_mounts,
    user_mounts,
)
from ._process import (
    command,
    environment,
    host_rlimit_ceiling,
    parse_user,
    rlimits,
    stop_signal,
    working_dir,
)
from .capabilities import capability_set
from .image import ImageConfig
from .linux import Linux
from .process import LinuxCapabilities, Process
from .resources import (
    LinuxBlockIO,
    LinuxCPU,
    LinuxDeviceCgroup,
    LinuxMemory,
    LinuxPids,
    LinuxResources,
)
from .spec import (
    ANNOTATION_CGROUPNS,
    ANNOTATION_CONTAINER_ID,
    ANNOTATION_STDIN,
    ANNOTATION_STOP_SIGNAL,
    Mount,
    Root,
    Spec,
)

__all__ = [
    "CGROUP_PARENT",
    "CPU_PERIOD",
    "build_spec",
    "default_device_rules",
    "detect_cgroup_version",
    "resources_from",
]

CPU_PERIOD = 100_000  # microseconds, Docker's --cpus period
_MIN_CPU_QUOTA = 1_000  # the kernel refuses a CFS quota below 1ms
CGROUP_PARENT = "/pouch"
_CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# (type, major, minor) allowed rwm besides mknod: null zero full random urandom
# tty console ptmx and the pty slaves.
_DEFAULT_DEVICES: tuple[tuple[str, int, int | None], ...] = (
    ("c", 1, 3),
    ("c", 1, 5),
    ("c", 1, 7),
    ("c", 1, 8),
    ("c", 1, 9),
    ("c", 5, 0),
    ("c", 5, 1),
    ("c", 5, 2),
    ("c", 136, None),
)


def detect_cgroup_version(mountinfo: str = "/proc/self/mountinfo") -> Literal[1, 2]:
    """2 only if /sys/fs/cgroup itself is a cgroup2 mount (the unified hierarchy).

    A hybrid host (v1 controllers with cgroup2 at /sys/fs/cgroup/unified)
    counts as 1, as runtimes treat it. An unreadable mountinfo also gives 1.
    """
    try:
        with open(mountinfo) as file:
            lines = file.read().splitlines()
    except OSError:
        return 1
    fstype = ""
    for line in lines:
        before, separator, after = line.partition(" - ")
        fields = before.split()
        # The last mount at the path wins: it is the one on top.
        if separator and len(fields) >= 5 and fields[4] == "/sys/fs/cgroup":
            fstype = after.split(" ", 1)[0]
    return 2 if fstype == "cgroup2" else 1


def default_device_rules(*, privileged: bool) -> list[LinuxDeviceCgroup]:
    """The device cgroup allow-list: everything when privileged, else Docker's.

    Docker's list denies all, allows mknod of any device (creating a node is
    harmless without access to it), then read-write access to the devices the
    runtime creates itself (runtime-spec "Default Devices") and the ptys.
    """
    if privileged:
        return [LinuxDeviceCgroup(allow=True, type="a", access="rwm")]
    rules = [
        LinuxDeviceCgroup(allow=False, type="a", access="rwm"),
        LinuxDeviceCgroup(allow=True, type="c", access="m"),
        LinuxDeviceCgroup(allow=True, type="b", access="m"),
    ]
    rules += [
        LinuxDeviceCgroup(allow=True, type=kind, major=major, minor=minor, access="rwm")
        for kind, major, minor in _DEFAULT_DEVICES
    ]
    return rules


def resources_from(res: Resources, *, cgroup_version: int | None = None) -> LinuxResources:
    """The cgroup limits of ``res``; a limit left ``None`` is absent (unchanged).

    ``memory_swap`` keeps its v1 meaning (memory plus swap, -1 unlimited) as
    the spec does; runtimes convert it on cgroup v2. Unlike Docker, an unset
    swap is not defaulted to twice the memory: hosts without swap accounting
    refuse that write. ``cpus`` becomes a CFS quota over a 100ms period.
    ``memory_swappiness`` is left out on cgroup v2 (``cgroup_version``, by
    default this host's). Raises InvalidArgument for ``cpus`` below 0.01 (a
    quota under 1ms).
    """
    swappiness = res.memory_swappiness
    if swappiness is not None and (cgroup_version or detect_cgroup_version()) == 2:
        swappiness = None  # cgroup v2 has none; docker ignores it there too
    memory = LinuxMemory(
        limit=res.memory,
        reservation=res.memory_reservation,
        swap=res.memory_swap,
        swappiness=swappiness,
    )
    cpu = LinuxCPU(shares=res.cpu_shares, cpus=res.cpuset_cpus or "", mems=res.cpuset_mems or "")
    if res.cpus is not None:
        quota = round(res.cpus * CPU_PERIOD)
        if quota < _MIN_CPU_QUOTA:
            raise InvalidArgument(
                f"{res.cpus} is below the minimum of 0.01 CPUs", field="resources.cpus"
            )
        cpu.quota, cpu.period = quota, CPU_PERIOD
    return LinuxResources(
        memory=None if memory == LinuxMemory() else memory,
        cpu=None if cpu == LinuxCPU() else cpu,
        pids=None if res.pids_limit is None else LinuxPids(limit=res.pids_limit),
        block_io=None if res.blkio_weight is None else LinuxBlockIO(weight=res.blkio_weight),
    )


def build_spec(
    config: ContainerConfig,
    *,
    image: ImageConfig,
    container_id: str,
    hostname: str,
    cgroup_version: Literal[1, 2] | None = None,
    cgroups_path: str = "",
    rlimit_ceiling: Mapping[str, int] | None = None,
    mounts: Sequence[Mount] = (),
) -> Spec:
    """The OCI spec for ``config`` with ``image``'s defaults under it, as Docker merges them.

    - ``hostname`` is final (the caller picks config.hostname or a default);
      it also lands in the HOSTNAME environment variable.
    - ``mounts`` are the mounts the caller resolved: each ``type="volume"``
      mount of the config as a bind mount from the volume's host path (the
      config's ``read_only`` is applied here), plus engine files such as
      /etc/hosts and /etc/resolv.conf. The image's ``Volumes`` are the
      caller's to turn into such mounts too.
    - ``cgroup_version`` defaults to ``detect_cgroup_version()``; the cgroup
      namespace is used only on v2.
    - ``cgroups_path`` is the container's cgroup in the cgroup manager's form
      (``pouch.cgroups.cgroups_path``); by default ``/pouch/<id>``.
    - ``rlimit_ceiling`` maps ``RLIMIT_*`` names to the highest hard limit the
      runtime may set (-1 unlimited); it defaults to this process's own hard
      limits, because a runtime without CAP_SYS_RESOURCE cannot go higher.
    - The user is parsed but not resolved: a name ends up in
      ``process.user.username`` with uid 0 for the runtime layer to resolve
      against the container's /etc/passwd (see ``parse_user``).
    - ``oomScoreAdj`` is never set, so the container inherits pouchd's and can
      never ask for a negative (protected) score.

    Raises InvalidArgument (with ``field``) for input Docker would reject:
    an unparsable user, no command at all, an unknown ulimit, ``cpus`` below
    0.01, ``net.*`` sysctls with the host network, a malformed container id.
    """
    if not _CONTAINER_ID.fullmatch(container_id):
        raise InvalidArgument(f"{container_id!r} is not a container id", field="container_id")
    host_network = config.networks == ["host"]
    for key in config.sysctls:
        if host_network and key.startswith("net."):
            raise InvalidArgument(
                f"{key} cannot be set in the host's network namespace", field="sysctls"
            )
    if config.user:
        user = parse_user(config.user, field="user")
    else:
        user = parse_user(image.user, field="image.User")
    # Numeric --group-add now (exec inherits them); names at start, from the
    # container's /etc/group.
    user.additional_gids = sorted({int(g) for g in config.group_add if g.isdigit()})
    privileged = config.privileged
    caps = capability_set(privileged=privileged, cap_add=config.cap_add, cap_drop=config.cap_drop)
    ceiling = host_rlimit_ceiling() if rlimit_ceiling is None else rlimit_ceiling
    process = Process(
        terminal=config.tty,
        user=user,
        args=command(config, image),
        env=environment(config, image, hostname),
        cwd=working_dir(config, image),
        # No inheritable or ambient caps: an unprivileged user exec'ing a
        # binary must not regain them (CVE-2022-24769).
        capabilities=LinuxCapabilities(bounding=caps, effective=caps, permitted=caps),
        rlimits=rlimits(config.ulimits, ceiling),
        no_new_privileges=config.no_new_privileges,
    )
    version = cgroup_version or detect_cgroup_version()
    resources = resources_from(config.resources, cgroup_version=version)
    nodes, node_rules = device_nodes(config)
    resources.devices = [
        *default_device_rules(privileged=privileged),
        *node_rules,
        *device_rules(config),
    ]
    linux = Linux(
        sysctl=dict(config.sysctls),
        resources=resources,
        cgroups_path=cgroups_path or f"{CGROUP_PARENT}/{container_id}",
        namespaces=namespaces(config, version),
        devices=nodes,
        masked_paths=[] if privileged else list(DEFAULT_MASKED_PATHS),
        readonly_paths=[] if privileged else list(DEFAULT_READONLY_PATHS),
    )
    return Spec(
        process=process,
        root=Root(path="rootfs", readonly=config.read_only_rootfs),
        # Only a UTS namespace of its own may be given a name (runc refuses, and
        # naming a joined one would rename the other container).
        hostname="" if config.uts_mode else hostname,
        domainname="" if config.uts_mode else config.domainname,
        mounts=combine_mounts(
            shm_mount(config, default_mounts(privileged=privileged)),
            user_mounts(config, mounts),
        ),
        annotations={
            ANNOTATION_CONTAINER_ID: container_id,
            ANNOTATION_STOP_SIGNAL: stop_signal(config, image),
            **(
                {ANNOTATION_STDIN: "once" if config.stdin_once else "true"}
                if config.open_stdin
                else {}
            ),
            **({ANNOTATION_CGROUPNS: "host"} if config.cgroupns_mode == "host" else {}),
        },
        linux=linux,
    )
