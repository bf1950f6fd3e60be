"""The filesystems a container sees: Docker's default mounts, the user's mounts,
and the masked and read-only paths over /proc and /sys.

Owns the translation of ``pouch.models.Mount`` and ``ContainerConfig.tmpfs``
into OCI mounts and the rule that a user mount replaces a default one at (or
above) the same place. It never resolves a volume: the caller passes volume
mounts already turned into bind mounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from pouch.models import ContainerConfig

from .spec import Mount

__all__ = [
    "DEFAULT_MASKED_PATHS",
    "DEFAULT_READONLY_PATHS",
    "combine_mounts",
    "default_mounts",
    "tmpfs_options",
    "user_mounts",
]

# Kernel interfaces that leak host information or allow host changes.
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

_TMPFS_DEFAULTS = {"nosuid": "suid", "nodev": "dev", "noexec": "exec"}


def default_mounts(*, privileged: bool) -> list[Mount]:
    """/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup.

    /sys and /sys/fs/cgroup are read-only unless the container is privileged.
    """
    ro = [] if privileged else ["ro"]
    secure = ["nosuid", "noexec", "nodev"]
    return [
        Mount(destination="/proc", type="proc", source="proc", options=secure),
        Mount(
            destination="/dev",
            type="tmpfs",
            source="tmpfs",
            options=["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        Mount(
            destination="/dev/pts",
            type="devpts",
            source="devpts",
            options=["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        Mount(
            destination="/dev/shm",
            type="tmpfs",
            source="shm",
            options=[*secure, "mode=1777", "size=65536k"],
        ),
        Mount(destination="/dev/mqueue", type="mqueue", source="mqueue", options=secure),
        Mount(destination="/sys", type="sysfs", source="sysfs", options=[*secure, *ro]),
        Mount(
            destination="/sys/fs/cgroup",
            type="cgroup",
            source="cgroup",
            options=[*secure, "relatime", *ro],
        ),
    ]


def tmpfs_options(options: Iterable[str]) -> list[str]:
    """``nosuid,nodev,noexec`` unless ``options`` asks otherwise, then ``options``."""
    given = [o.strip() for o in options if o.strip()]
    kept = [
        d for d, opposite in _TMPFS_DEFAULTS.items() if d not in given and opposite not in given
    ]
    return kept + given


def _with_ro(options: list[str], read_only: bool) -> list[str]:
    return [*options, "ro"] if read_only and "ro" not in options else options


def user_mounts(config: ContainerConfig, resolved: Sequence[Mount]) -> list[Mount]:
    """The config's bind and tmpfs mounts, then ``resolved``, parents before children.

    ``resolved`` holds the mounts the engine prepared: every ``type="volume"``
    mount of the config as a bind mount from the volume's host path (made
    read-only here if the config asks), plus the engine's own files such as
    /etc/hosts. A config mount wins over a resolved one at the same place.
    Raises ValueError if a volume mount of the config was not resolved: that
    is a bug in the caller, not bad input.
    """
    ours: list[Mount] = []
    volumes: dict[str, bool] = {}
    for mount in config.mounts:
        if mount.type == "bind":
            options = _with_ro(["rbind", *mount.options], mount.read_only)
            ours.append(
                Mount(destination=mount.target, type="bind", source=mount.source, options=options)
            )
        elif mount.type == "tmpfs":
            options = tmpfs_options(_with_ro(list(mount.options), mount.read_only))
            ours.append(
                Mount(destination=mount.target, type="tmpfs", source="tmpfs", options=options)
            )
        else:
            volumes[mount.target] = mount.read_only
    for target, text in config.tmpfs.items():
        options = tmpfs_options(text.split(","))
        ours.append(Mount(destination=target, type="tmpfs", source="tmpfs", options=options))
    taken = {m.destination for m in ours}
    missing = set(volumes) - {m.destination for m in resolved}
    if missing:
        raise ValueError(f"volume mount at {sorted(missing)[0]} was not resolved by the caller")
    for extra in resolved:
        if extra.destination in taken:
            continue
        # A copy, so that plugins adjusting the spec never edit the caller's list.
        options = _with_ro(list(extra.options), volumes.get(extra.destination, False))
        ours.append(msgspec.structs.replace(extra, options=options))
    # Stable sort: /data is mounted before /data/sub whatever the input order.
    ours.sort(key=lambda m: _depth(m.destination))
    return ours


def _depth(path: str) -> int:
    return len([part for part in path.split("/") if part])


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def combine_mounts(defaults: Iterable[Mount], user: Sequence[Mount]) -> list[Mount]:
    """Defaults not replaced by a user mount at or above them, then the user's."""
    kept = [d for d in defaults if not any(_covers(u.destination, d.destination) for u in user)]
    return kept + list(user)
