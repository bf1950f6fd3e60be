"""A container's root filesystem owned by its user namespace's IDs, without copying data.

The snapshot's overlay is mounted once with ``metacopy=on`` and every entry
``lchown``-ed by the mapping's offset: overlayfs copies up only the metadata
(a few KiB for a whole image), so the image's layers stay shared and
unchanged. Every later mount of that snapshot must say ``metacopy=on`` too
(``Snapshot.shifted``). IDs outside the mapping are left as they are.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pouch.drivers import Mount
from pouch.mounts import mount_all, unmount
from pouch.userns import IdMap

__all__ = ["shift_snapshot"]


def _shift(path: str, idmap: IdMap) -> None:
    info = os.lstat(path)
    if info.st_uid >= idmap.size or info.st_gid >= idmap.size:
        return
    os.lchown(path, info.st_uid + idmap.uid, info.st_gid + idmap.gid)
    if not stat.S_ISLNK(info.st_mode) and info.st_mode & (stat.S_ISUID | stat.S_ISGID):
        os.chmod(path, stat.S_IMODE(info.st_mode))  # chown cleared the set-ID bits


def shift_snapshot(mounts: list[Mount], scratch: Path, idmap: IdMap) -> None:
    """Shift every entry of the filesystem ``mounts`` describe, mounted on ``scratch``."""
    scratch.mkdir()
    try:
        mount_all(mounts, scratch)
        try:
            for directory, dirs, files in os.walk(scratch):
                for name in (*dirs, *files):
                    _shift(os.path.join(directory, name), idmap)
            _shift(str(scratch), idmap)
        finally:
            unmount(scratch)
    finally:
        scratch.rmdir()
