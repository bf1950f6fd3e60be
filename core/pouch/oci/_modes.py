"""What a container shares with the host: namespaces, /dev/shm, devices, device rules.

Part of ``build_spec``: docker's ``--pid``, ``--ipc``, ``--uts`` and
``--cgroupns`` modes become the spec's namespace list, ``--ipc`` and
``--shm-size`` the /dev/shm mount, ``--device`` device nodes (read from the
host with ``os.stat``) with their cgroup allow rules, and
``--device-cgroup-rule`` more allow rules. A ``container:NAME`` mode leaves
the namespace in the list without a path: the engine sets the path of the
running container's namespace at each start (``join_namespace``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from pouch.errors import InvalidArgument
from pouch.models import ContainerConfig, container_ref

from .linux import LinuxDevice, LinuxNamespace, NamespaceType
from .resources import LinuxDeviceCgroup
from .spec import Mount

__all__ = [
    "DEFAULT_SHM_SIZE",
    "device_nodes",
    "device_rules",
    "join_namespace",
    "joined_modes",
    "namespaces",
    "shm_mount",
]

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
_MODE_FIELDS: dict[NamespaceType, str] = {"pid": "pid_mode", "ipc": "ipc_mode", "uts": "uts_mode"}


def namespaces(config: ContainerConfig, cgroup_version: int) -> list[LinuxNamespace]:
    """The namespaces to create (or, for ``container:NAME`` modes, to join later)."""
    kinds: list[NamespaceType] = [
        kind for kind, field in _MODE_FIELDS.items() if getattr(config, field) != "host"
    ]
    kinds.append("mount")
    if config.networks != ["host"]:
        # Created empty here; the network driver (or a sandbox) sets its path.
        kinds.append("network")
    # On v1 runc would need every controller's cgroupns; Docker keeps host
    # there unless asked, and private on v2 unless asked.
    mode = config.cgroupns_mode or ("private" if cgroup_version == 2 else "host")
    if mode == "private":
        kinds.append("cgroup")
    return [LinuxNamespace(type=kind) for kind in kinds]


def joined_modes(config: ContainerConfig) -> dict[NamespaceType, str]:
    """Namespace type → the container whose namespace ``config`` joins."""
    found = {kind: container_ref(getattr(config, field)) for kind, field in _MODE_FIELDS.items()}
    return {kind: ref for kind, ref in found.items() if ref}


def join_namespace(namespaces: list[LinuxNamespace], kind: NamespaceType, pid: int) -> None:
    """Point the ``kind`` namespace at process ``pid``'s (a running container's init)."""
    path = f"/proc/{pid}/ns/{'net' if kind == 'network' else kind}"
    for namespace in namespaces:
        if namespace.type == kind:
            namespace.path = path
            return
    namespaces.append(LinuxNamespace(type=kind, path=path))


def shm_mount(config: ContainerConfig, mounts: list[Mount]) -> list[Mount]:
    """``mounts`` with /dev/shm as ``--ipc`` and ``--shm-size`` ask.

    ``none`` has no /dev/shm, ``host`` the host's; a joined container's is
    bound in at start. Otherwise a tmpfs of ``shm_size`` bytes (64 MiB).
    """
    kept: list[Mount] = []
    for mount in mounts:
        if mount.destination != "/dev/shm":
            kept.append(mount)
        elif config.ipc_mode == "host":
            kept.append(
                Mount(destination="/dev/shm", type="bind", source="/dev/shm", options=["rbind"])
            )
        elif config.ipc_mode in ("", "private", "shareable"):
            size = config.shm_size or DEFAULT_SHM_SIZE
            options = [o for o in mount.options if not o.startswith("size=")]
            kept.append(
                Mount(
                    destination=mount.destination,
                    type=mount.type,
                    source=mount.source,
                    options=[*options, f"size={size}"],
                )
            )
    return kept


def device_nodes(
    config: ContainerConfig, stat_path: Callable[[str], os.stat_result] = os.stat
) -> tuple[list[LinuxDevice], list[LinuxDeviceCgroup]]:
    """``--device`` entries: the nodes to create and their cgroup allow rules."""
    nodes: list[LinuxDevice] = []
    rules: list[LinuxDeviceCgroup] = []
    for index, device in enumerate(config.devices):
        field = f"devices[{index}]"
        try:
            info = stat_path(device.path_on_host)
        except OSError as exc:
            raise InvalidArgument(
                f"error gathering device information while adding device "
                f"{device.path_on_host!r}: {exc.strerror}",
                field=field,
            ) from None
        if stat.S_ISCHR(info.st_mode):
            kind = "c"
        elif stat.S_ISBLK(info.st_mode):
            kind = "b"
        else:
            raise InvalidArgument(
                f"{device.path_on_host!r} is not a device node", field=field
            ) from None
        major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
        nodes.append(
            LinuxDevice(
                path=device.path_in_container or device.path_on_host,
                type=kind,
                major=major,
                minor=minor,
                file_mode=stat.S_IMODE(info.st_mode),
                uid=info.st_uid,
                gid=info.st_gid,
            )
        )
        rules.append(
            LinuxDeviceCgroup(
                allow=True, type=kind, major=major, minor=minor, access=device.permissions
            )
        )
    return nodes, rules


def device_rules(config: ContainerConfig) -> list[LinuxDeviceCgroup]:
    """``--device-cgroup-rule`` entries ("c 1:3 rwm") as allow rules."""
    rules = []
    for rule in config.device_cgroup_rules:
        kind, numbers, access = rule.split()
        major, _, minor = numbers.partition(":")
        rules.append(
            LinuxDeviceCgroup(
                allow=True,
                type=kind,
                major=None if major == "*" else int(major),
                minor=None if minor == "*" else int(minor),
                access=access,
            )
        )
    return rules
