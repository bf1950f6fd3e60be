"""Walking and changing paths under a layer's root directory without following symlinks.

Owns the safety rules of unpacking: entry names are split and refused when
absolute or containing ``..``; every directory is opened component by
component from the root's fd with ``O_NOFOLLOW``, so a symlink anywhere on the
way is refused rather than followed. It must not read tarballs: that is
``_layers``' job. Blocking.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat

from pouch.errors import InvalidArgument

__all__ = [
    "DIR_FLAGS",
    "OPAQUE_XATTR",
    "is_whiteout",
    "lstat_at",
    "open_dir",
    "remove_at",
    "set_opaque",
    "split_entry",
]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
OPAQUE_XATTR = "trusted.overlay.opaque"


def is_whiteout(st: os.stat_result) -> bool:
    """An overlayfs whiteout: a character device 0:0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def lstat_at(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def split_entry(path: str, entry: str) -> list[str]:
    """The components of ``path`` (an entry name or a hard link target) below the root."""
    if path.startswith("/"):
        raise InvalidArgument(f"layer entry {entry!r} has an absolute path")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"layer entry {entry!r} has a '..' component")
    return parts


def remove_at(name: str, parent: int, existing: os.stat_result | None) -> None:
    if existing is None:
        return
    if stat.S_ISDIR(existing.st_mode):
        shutil.rmtree(name, dir_fd=parent)  # fd-based: never follows a symlink
    else:
        os.unlink(name, dir_fd=parent)


def set_opaque(parent: int, name: str) -> None:
    """Mark directory ``name`` opaque: overlayfs shows nothing of lower layers in it."""
    fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    try:
        os.setxattr(fd, OPAQUE_XATTR, b"y")
    finally:
        os.close(fd)


def open_dir(
    root_fd: int, parts: list[str], entry: str, *, create: bool, whiteouts: bool
) -> int | None:
    """An fd of the directory ``parts`` below ``root_fd``, never reached via a symlink.

    Missing directories are made (mode 0755) when ``create``, else None is
    returned. A same-layer whiteout on the way gives way to the directory,
    which is then opaque when ``whiteouts`` (it replaces the lower one).
    """
    fd = os.dup(root_fd)
    try:
        for depth, part in enumerate(parts):
            st = lstat_at(part, fd)
            if st is None or is_whiteout(st):
                if not create:
                    os.close(fd)
                    return None
                if st is not None:
                    os.unlink(part, dir_fd=fd)
                os.mkdir(part, 0o755, dir_fd=fd)
                if st is not None and whiteouts:
                    set_opaque(fd, part)
            elif not stat.S_ISDIR(st.st_mode):
                kind = "symlink" if stat.S_ISLNK(st.st_mode) else "non-directory"
                via = "/".join(parts[: depth + 1])
                raise InvalidArgument(f"layer entry {entry!r} goes through the {kind} {via!r}")
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
