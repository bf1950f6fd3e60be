"""User-namespace remapping (``pouchd --userns-remap``), as dockerd does it.

Container root is mapped to the first ID of a subordinate range from
``/etc/subuid`` and ``/etc/subgid``, so a process that escapes is an
unprivileged user on the host. ``default`` uses the ranges of the name
``pouchremap``, adding a free range of 65536 IDs for it when there is none;
``NAME`` or ``NAME:GROUP`` uses the ranges listed for those names.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import msgspec

from pouch.errors import InvalidArgument

__all__ = ["DEFAULT_NAME", "IdMap", "allow_root", "resolve"]

DEFAULT_NAME = "pouchremap"
SIZE = 65536
SUBUID = Path("/etc/subuid")
SUBGID = Path("/etc/subgid")


class IdMap(msgspec.Struct, frozen=True, kw_only=True):
    """Container IDs 0..size-1 are host IDs uid..uid+size-1 (gid likewise)."""

    uid: int
    gid: int
    size: int


def _ranges(path: Path) -> list[tuple[str, int, int]]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            found.append((parts[0], int(parts[1]), int(parts[2])))
    return found


def _find(path: Path, name: str) -> tuple[int, int] | None:
    for owner, start, size in _ranges(path):
        if owner == name and size >= 1:
            return start, size
    return None


def _add_default(path: Path) -> tuple[int, int]:
    """A free range for ``pouchremap`` in ``path`` (after every listed one), added under a lock."""
    with open(path, "a+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        found = _find(path, DEFAULT_NAME)
        if found is not None:
            return found
        start = max((s + n for _, s, n in _ranges(path)), default=100_000)
        start = max(start, 100_000)
        file.write(f"{DEFAULT_NAME}:{start}:{SIZE}\n")
        return start, SIZE


def resolve(setting: str) -> IdMap | None:
    """The mapping ``setting`` names; None for "" (no remapping)."""
    if not setting:
        return None
    if setting == "default":
        uid, size = _add_default(SUBUID)
        gid, gsize = _add_default(SUBGID)
        return IdMap(uid=uid, gid=gid, size=min(size, gsize))
    user, _, group = setting.partition(":")
    uids, gids = _find(SUBUID, user), _find(SUBGID, group or user)
    if uids is None or gids is None:
        missing = SUBUID if uids is None else SUBGID
        raise InvalidArgument(
            f"no range for {setting!r} in {missing}: add a line NAME:START:COUNT there,"
            ' or use userns_remap = "default"',
            field="userns_remap",
        )
    return IdMap(uid=uids[0], gid=gids[0], size=min(uids[1], gids[1]))


def _covers(path: Path, name: str, start: int, size: int) -> bool:
    return any(
        owner == name and first <= start and start + size <= first + count
        for owner, first, count in _ranges(path)
    )


def allow_root(uid: int, gid: int, size: int) -> None:
    """List the ranges for root too, where they are not yet.

    Where shadow's ``newuidmap`` is installed setuid (Debian's ``uidmap``),
    LXC maps IDs through it even as root, and it lets root map only the
    ranges ``/etc/subuid`` and ``/etc/subgid`` list for root.
    """
    for path, start in ((SUBUID, uid), (SUBGID, gid)):
        if _covers(path, "root", start, size):
            continue
        with open(path, "a+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            if not _covers(path, "root", start, size):
                file.write(f"root:{start}:{size}\n")
