"""Paths inside a container's root filesystem, resolved without ever leaving it.

``ScopedRoot`` is a container's file system as its processes see it: the root
directory (a host directory where the snapshot is mounted) plus the host
directories bind-mounted onto it (volumes, ``-v`` binds). A container path is
walked one component at a time with directory file descriptors: every
component is looked at with ``fstatat(AT_SYMLINK_NOFOLLOW)`` and opened with
``O_NOFOLLOW``, a symlink is read and its target walked again from the
container's root (absolute) or from the current directory (relative), and
``..`` never climbs above the root. So neither a hostile symlink nor a
container swapping a directory for a symlink meanwhile can make the daemon
touch a host file: the kernel never follows a link on our behalf. This is what
Go's securejoin / openat2(RESOLVE_IN_ROOT) give docker. Blocking file work.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections import deque
from collections.abc import Mapping, Sequence

from pouch.errors import NoSuchObject

__all__ = ["MOUNT_FLAGS", "IdShift", "Resolved", "ScopedRoot", "clean"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# A mount's host directory is the daemon's configuration, not the container's:
# a symlink in its host path (/var/run -> /run) is followed, as the bind did.
MOUNT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_MAX_LINKS = 40


def clean(path: str) -> str:
    """``path`` as an absolute, normalised container path (``..`` clamped at ``/``)."""
    return posixpath.normpath("/" + path.lstrip("/")).replace("//", "/")


Ranges = Sequence[tuple[int, int, int]]  # (container ID, host ID, size), as the OCI spec


def _map(value: int, ranges: Ranges, *, to_host: bool) -> int | None:
    for inside, outside, size in ranges:
        start, other = (inside, outside) if to_host else (outside, inside)
        if start <= value < start + size:
            return other + value - start
    return None if ranges else value


class IdShift:
    """A user namespace's ID mappings: owners as the container sees them ↔ on the host.

    Empty mappings (no user namespace of its own) leave IDs as they are.
    """

    def __init__(self, uids: Ranges = (), gids: Ranges = ()) -> None:
        self.uids = list(uids)
        self.gids = list(gids)

    def to_host(self, uid: int, gid: int) -> tuple[int, int]:
        """An ID the namespace does not map becomes its ``nobody`` (or its root)."""
        return self._one(uid, self.uids), self._one(gid, self.gids)

    def to_container(self, uid: int, gid: int) -> tuple[int, int]:
        """A host ID outside the namespace shows as ``nobody`` (65534), as in it."""
        found = _map(uid, self.uids, to_host=False), _map(gid, self.gids, to_host=False)
        return (65534 if found[0] is None else found[0], 65534 if found[1] is None else found[1])

    @staticmethod
    def _one(value: int, ranges: Ranges) -> int:
        found = _map(value, ranges, to_host=True)
        if found is None:
            found = _map(65534, ranges, to_host=True)
        return ranges[0][1] if found is None else found


class Resolved:
    """The directory (an open fd) holding a container path's last component, and its name.

    ``name`` is ``"."`` for the root itself. Close with ``close`` (or ``with``).
    """

    def __init__(self, dir_fd: int, name: str, path: str) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.path = path  # the container path after resolving every link before the last

    def lstat(self) -> os.stat_result:
        return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)

    def exists(self) -> bool:
        try:
            self.lstat()
        except FileNotFoundError:
            return False
        return True

    def close(self) -> None:
        os.close(self.dir_fd)

    def __enter__(self) -> Resolved:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ScopedRoot:
    """The root directory ``root`` and the host directories mounted on container paths."""

    def __init__(
        self, root: str, mounts: Mapping[str, str] | None = None, ids: IdShift | None = None
    ) -> None:
        self.root = root
        self.ids = ids or IdShift()
        self.mounts = {clean(dest): source for dest, source in (mounts or {}).items()}
        self.mounts.pop("/", None)

    def in_mount(self, path: str) -> bool:
        """Whether container path ``path`` is on a volume or bind rather than the root."""
        return any(path == dest or path.startswith(dest + "/") for dest in self.mounts)

    def mount_at(self, path: str) -> str | None:
        """The host directory mounted exactly on container path ``path``, if any."""
        return self.mounts.get(path)

    def resolve(self, path: str, *, follow: bool = False, make_parents: bool = False) -> Resolved:
        """Walk ``path`` inside the root; the last component is followed only with ``follow``.

        A missing last component is not an error (the caller may create it);
        a missing directory before it raises ``NoSuchObject`` unless
        ``make_parents`` creates it (mode 0755, as docker's untar does).
        """
        parts = deque(p for p in path.split("/") if p not in ("", "."))
        stack: list[tuple[int, str]] = [(os.open(self.root, _DIR_FLAGS), "/")]
        links = 0
        try:
            while parts:
                part = parts.popleft()
                fd, here = stack[-1]
                if part == "..":
                    if len(stack) > 1:
                        os.close(stack.pop()[0])
                    continue
                child = posixpath.join(here, part)
                last = not parts
                source = self.mounts.get(child)
                if source is not None:
                    if last:
                        parent = os.open(os.path.dirname(source) or "/", MOUNT_FLAGS)
                        return Resolved(parent, os.path.basename(source) or ".", child)
                    stack.append((os.open(source, MOUNT_FLAGS), child))
                    continue
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if last:
                        return Resolved(os.dup(fd), part, child)
                    if not make_parents:
                        raise NoSuchObject(f"{child}: no such file or directory") from None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode) and (follow or not last):
                    links += 1
                    if links > _MAX_LINKS:
                        raise OSError(errno.ELOOP, f"{child}: too many levels of symbolic links")
                    target = os.readlink(part, dir_fd=fd)
                    if target.startswith("/"):
                        for extra, _ in stack[1:]:
                            os.close(extra)
                        del stack[1:]
                    parts.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
                    continue
                if last:
                    return Resolved(os.dup(fd), part, child)
                if not stat.S_ISDIR(st.st_mode):
                    raise NoSuchObject(f"{child}: not a directory")
                # O_NOFOLLOW: a directory swapped for a link meanwhile fails here.
                stack.append((os.open(part, _DIR_FLAGS, dir_fd=fd), child))
            fd, here = stack[-1]
            return Resolved(os.dup(fd), ".", here)
        finally:
            for fd, _ in stack:
                os.close(fd)
