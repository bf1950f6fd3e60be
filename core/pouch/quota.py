"""Directory disk quota: an ext4 or xfs project per directory, limited by quotactl.

A directory gets a project ID (``FS_IOC_FSSETXATTR`` with the inherit flag, so
whatever is created under it counts too) and the project a hard block limit
(``quotactl(Q_SETQUOTA, PRJQUOTA)``); writing past it fails with ENOSPC, and
``df`` on the directory shows the limit. The filesystem must be mounted with
``prjquota`` (ext4 made with ``-O quota,project``; xfs). IDs are recorded in
``Projects`` (a JSON file under the engine's root) so that a restarted engine
frees what an earlier one gave out.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from pouch.errors import InvalidArgument
from pouch.mounts import MountEntry, mount_table

__all__ = ["Projects", "QuotaError", "backing_mount", "clear", "limit", "support", "usage"]

FS_IOC_FSGETXATTR = 0x801C581F
FS_IOC_FSSETXATTR = 0x401C5820
FS_XFLAG_PROJINHERIT = 0x200
_FSXATTR = struct.Struct("=IIIII8x")  # xflags, extsize, nextents, projid, cowextsize
Q_GETQUOTA = 0x800007
Q_SETQUOTA = 0x800008
PRJQUOTA = 2
QIF_BLIMITS = 1
_DQBLK = struct.Struct("=QQQQQQQQI4x")  # struct if_dqblk
FIRST_ID = 100_000  # clear of the small IDs people give projects by hand


class QuotaError(InvalidArgument):
    """Project quota cannot be set here; the message says what to change."""


def backing_mount(path: Path) -> MountEntry:
    """The mount ``path`` is on (the last-mounted of the longest mount points above it)."""
    real = os.path.realpath(path)
    best: MountEntry | None = None
    for entry in mount_table():
        inside = real == entry.point or real.startswith(entry.point.rstrip("/") + "/")
        if inside and (best is None or len(entry.point) >= len(best.point)):
            best = entry
    if best is None:
        raise QuotaError(f"no mount found for {path}")
    return best


def _check(mount: MountEntry, field: str) -> None:
    if mount.fstype not in ("ext4", "xfs"):
        raise QuotaError(
            f"{mount.point} is {mount.fstype}: a size limit needs ext4 or xfs with project"
            " quota there",
            field=field,
        )
    if not {"prjquota", "pquota"} & mount.options:
        raise QuotaError(
            f"{mount.point} ({mount.fstype}, {mount.source}) is not mounted with prjquota:"
            f" add the mount option prjquota"
            + (
                " (the filesystem needs mkfs.ext4 -O quota,project)"
                if mount.fstype == "ext4"
                else ""
            ),
            field=field,
        )


_libc = ctypes.CDLL(None, use_errno=True)


def _set_project(directory: Path, project: int) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buffer = bytearray(_FSXATTR.size)
        fcntl.ioctl(fd, FS_IOC_FSGETXATTR, buffer)
        xflags, extsize, nextents, _, cow = _FSXATTR.unpack(buffer)
        packed = _FSXATTR.pack(xflags | FS_XFLAG_PROJINHERIT, extsize, nextents, project, cow)
        fcntl.ioctl(fd, FS_IOC_FSSETXATTR, bytearray(packed))
    finally:
        os.close(fd)


def _quotactl(command: int, device: str, project: int, block: bytearray) -> None:
    qcmd = ctypes.c_int((command << 8) | PRJQUOTA)  # QCMD(command, PRJQUOTA), a C int
    buffer = (ctypes.c_char * len(block)).from_buffer(block)
    if _libc.quotactl(qcmd, device.encode(), project, buffer) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"quotactl on {device}: {os.strerror(errno)}")


def _set_hard_limit(device: str, project: int, size: int) -> None:
    blocks = -(-size // 1024)  # in 1 KiB quota blocks, rounded up
    _quotactl(
        Q_SETQUOTA,
        device,
        project,
        bytearray(_DQBLK.pack(blocks, blocks, 0, 0, 0, 0, 0, 0, QIF_BLIMITS)),
    )


def usage(directory: Path, project: int) -> tuple[int, int]:
    """(bytes used, hard limit in bytes) of ``project`` on ``directory``'s filesystem."""
    mount = backing_mount(directory)
    block = bytearray(_DQBLK.size)
    _quotactl(Q_GETQUOTA, mount.source, project, block)
    hard, _, used, *_ = _DQBLK.unpack(block)
    return used, hard * 1024


class Projects:
    """Which project ID each owner (a container, a volume) holds; a file, locked while used."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, int]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                table: dict[str, int] = json.loads(self.path.read_text())
            except (FileNotFoundError, ValueError):
                table = {}
            before = dict(table)
            yield table
            if table != before:
                temporary = self.path.with_suffix(".new")
                temporary.write_text(json.dumps(table, sort_keys=True))
                os.replace(temporary, self.path)

    def get(self, owner: str) -> int | None:
        with self._locked() as table:
            return table.get(owner)

    def allocate(self, owner: str) -> int:
        with self._locked() as table:
            if owner not in table:
                table[owner] = max(table.values(), default=FIRST_ID - 1) + 1
            return table[owner]

    def owners(self) -> list[str]:
        with self._locked() as table:
            return sorted(table)

    def release(self, owner: str) -> int | None:
        with self._locked() as table:
            return table.pop(owner, None)


def limit(directory: Path, owner: str, size: int, projects: Projects, *, field: str) -> int:
    """Limit ``directory`` (and all under it) to ``size`` bytes; the project ID used.

    Raises ``QuotaError`` naming ``field`` and what to change when the
    filesystem cannot; nothing is recorded then.
    """
    mount = backing_mount(directory)
    _check(mount, field)
    project = projects.allocate(owner)
    try:
        for path in [directory, *[p for p in directory.rglob("*") if p.is_dir()]]:
            _set_project(path, project)
        _set_hard_limit(mount.source, project, size)
    except OSError as exc:
        projects.release(owner)
        raise QuotaError(f"cannot limit {directory}: {exc}", field=field) from None
    return project


def clear(directory: Path | None, owner: str, projects: Projects) -> None:
    """Lift ``owner``'s limit and give its project ID back (idempotent)."""
    project = projects.get(owner)
    if project is None:
        return
    if directory is not None:
        with contextlib.suppress(OSError, QuotaError):
            _set_hard_limit(backing_mount(directory).source, project, 0)
    projects.release(owner)


def support(root: Path) -> str:
    """Whether sizes can be limited under ``root``, as ``info`` says it."""
    try:
        mount = backing_mount(root)
    except QuotaError:
        return "unknown"
    if mount.fstype in ("ext4", "xfs") and {"prjquota", "pquota"} & mount.options:
        return f"project quota ({mount.fstype})"
    return f"none ({mount.point} is {mount.fstype} without prjquota)"
