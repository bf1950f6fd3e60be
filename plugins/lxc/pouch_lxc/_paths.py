"""Mount targets made inside the root filesystem from the host side, never leaving it.

LXC mounts on top of the root filesystem after it made it read-only (for
``lxc.rootfs.options = ro``), so a missing mount point or working directory
cannot be created then. The plugin creates them beforehand in the snapshot it
mounted on the host, walking one component at a time with ``O_NOFOLLOW``: a
symlink in the image is never followed out of the root filesystem — that path
is left for LXC, which resolves it inside the container.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["ensure_target"]


def _components(path: str) -> list[str]:
    parts = [part for part in path.split("/") if part and part != "."]
    if ".." in parts:
        raise ValueError(f"{path!r}: '..' is not allowed in a container path")
    return parts


def ensure_target(rootfs: Path, path: str, *, directory: bool) -> bool:
    """Create ``path`` (a directory, or an empty file) under ``rootfs`` if missing.

    Returns False when a component is a symlink or of the wrong kind, or on any
    other error: the caller then leaves the path to LXC.
    """
    parts = _components(path)
    if not parts:
        return True
    fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if last and not directory:
                with contextlib.suppress(FileExistsError):
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                    os.close(os.open(part, flags, 0o644, dir_fd=fd))
                return stat.S_ISREG(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
