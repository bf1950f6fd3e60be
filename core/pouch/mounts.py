"""mount(2) and umount2(2) through libc, for runtimes and the engine.

Snapshots describe their mounts (``pouch.drivers.Mount``); a runtime that
presents the root filesystem on the host performs them with ``mount_all``, in
the host's mount namespace, so they stay while pouchd is down. Network
namespaces are pinned by bind mounts and released with ``unmount`` too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from pathlib import Path
from typing import NamedTuple

from pouch.drivers import Mount

__all__ = [
    "MountEntry",
    "bind",
    "is_mountpoint",
    "mount_all",
    "mount_table",
    "mounted_at",
    "unmount",
]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2
_FLAGS = {"ro": MS_RDONLY, "bind": MS_BIND, "rbind": MS_BIND | MS_REC}


def _mount(source: str, target: Path, fstype: str, flags: int, data: str) -> None:
    result = _libc.mount(
        source.encode(),
        str(target).encode(),
        fstype.encode(),
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {fstype} on {target}: {os.strerror(code)} ({data[:200]})")


def mount_all(mounts: list[Mount], target: Path) -> None:
    """Perform ``mounts`` (as the snapshotter described them) on ``target``."""
    for mount in mounts:
        flags = 0
        data = []
        for option in mount.options:
            if option in _FLAGS:
                flags |= _FLAGS[option]
            elif option != "rw":
                data.append(option)
        fstype = "" if flags & MS_BIND else mount.type
        _mount(mount.source, target, fstype, flags, ",".join(data))


def bind(source: Path, target: Path, *, read_only: bool = False) -> None:
    """Bind ``source`` (and the mounts under it) on ``target``, read-only when asked.

    A bind mount ignores ``MS_RDONLY``; read-only takes a second, remounting call.
    """
    _mount(str(source), target, "", MS_BIND | MS_REC, "")
    if read_only:
        try:
            _mount("", target, "", MS_REMOUNT | MS_BIND | MS_RDONLY, "")
        except OSError:
            unmount(target)
            raise


def mounted_at(path: Path) -> bool:
    """Whether something is mounted on ``path`` (a bind of the same filesystem counts)."""
    real = os.path.realpath(path)
    return any(entry.point == real for entry in mount_table())


def unmount(target: Path) -> None:
    """Lazily unmount everything stacked on ``target``; no error when nothing is mounted."""
    for _ in range(16):
        if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
            code = ctypes.get_errno()
            if code in (errno.EINVAL, errno.ENOENT):
                return
            raise OSError(code, f"umount {target}: {os.strerror(code)}")


class MountEntry(NamedTuple):
    """One line of /proc/self/mountinfo; ``options`` has the mount's and the superblock's."""

    point: str
    fstype: str
    source: str
    options: frozenset[str]


def mount_table(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[MountEntry]:
    """The mounts of this mount namespace, in mount order; empty when unreadable."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return []
    table = []
    for line in lines:
        fields = line.split()
        separator = fields.index("-")
        options = fields[5].split(",") + fields[separator + 3].split(",")
        point = fields[4].replace("\\040", " ")
        table.append(
            MountEntry(point, fields[separator + 1], fields[separator + 2], frozenset(options))
        )
    return table


def is_mountpoint(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False
