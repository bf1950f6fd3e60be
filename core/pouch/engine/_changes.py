"""A container's changes, read from its overlay upper dir: ``docker diff`` and ``commit``.

overlayfs records a deletion as a whiteout (a character device 0:0) and a
directory whose lower contents are hidden as *opaque* (the xattr
``trusted.overlay.opaque`` = ``y``). ``changes`` lists them as dockerd does
(kind 0 modified, 1 added, 2 deleted; the parent of an addition or deletion
is listed as modified); ``write_layer`` writes the upper dir as an image
layer, whiteouts as the image spec's ``.wh.`` entries. The upper dir is
pouch's own directory, not the container's view, so plain paths are safe.
Blocking file work.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

import msgspec

from pouch.drivers import Mount

__all__ = ["Change", "changes", "lower_dirs", "write_layer"]

_OPAQUE = "trusted.overlay.opaque"


class Change(msgspec.Struct, rename={"path": "Path", "kind": "Kind"}):
    path: str
    kind: int  # 0 modified, 1 added, 2 deleted


def lower_dirs(mounts: list[Mount]) -> list[Path]:
    """The layer directories (top first) under a container snapshot's mounts."""
    for mount in mounts:
        for option in mount.options:
            if option.startswith("lowerdir="):
                return [Path(p) for p in option.removeprefix("lowerdir=").split(":")]
        if mount.type == "bind" and "ro" in mount.options:
            return [Path(mount.source)]
    return []


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _walk(upper: Path) -> list[tuple[str, Path, os.stat_result]]:
    """Every entry under ``upper``, parents before children, names in order."""
    found: list[tuple[str, Path, os.stat_result]] = []

    def visit(directory: Path, prefix: str) -> None:
        for name in sorted(os.listdir(directory)):
            path = directory / name
            st = os.lstat(path)
            rel = f"{prefix}/{name}"
            found.append((rel, path, st))
            if stat.S_ISDIR(st.st_mode):
                visit(path, rel)

    visit(upper, "")
    return found


def changes(upper: Path, lowers: list[Path]) -> list[Change]:
    result: list[Change] = []
    listed: set[str] = set()
    for rel, _, st in _walk(upper):
        if _whiteout(st):
            change = Change(rel, 2)
        else:
            below = None
            for lower in lowers:
                try:
                    below = os.lstat(lower / rel.lstrip("/"))
                    break
                except OSError:
                    continue
            if below is None:
                change = Change(rel, 1)
            else:
                same_dir = stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(below.st_mode)
                if same_dir and (st.st_mode, st.st_mtime_ns) == (below.st_mode, below.st_mtime_ns):
                    listed.add(rel)  # untouched (a copy-up of its metadata)
                    continue
                change = Change(rel, 0)
        if stat.S_ISDIR(st.st_mode):
            listed.add(rel)
        parent = posixpath.dirname(rel)
        if change.kind != 0 and parent != "/" and parent not in listed:
            result.append(Change(parent, 0))
            listed.add(parent)
        result.append(change)
    return result


def write_layer(upper: Path, out: BinaryIO) -> None:
    """The upper dir as an image layer tar: whiteouts become ``.wh.`` entries."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, path, st in _walk(upper):
            name = rel.lstrip("/")
            if _whiteout(st):
                head, _, base = name.rpartition("/")
                info = tarfile.TarInfo(f"{head}/.wh.{base}" if head else f".wh.{base}")
                info.mtime = st.st_mtime
                tar.addfile(info)
                continue
            info = tar.gettarinfo(str(path), arcname=name)
            info.uname = info.gname = ""
            if info.isreg() and st.st_nlink > 1:
                first = links.setdefault((st.st_dev, st.st_ino), name)
                if first != name:
                    info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
            if info.isreg() and info.type != tarfile.LNKTYPE:
                with path.open("rb") as source:
                    tar.addfile(info, source)
            else:
                tar.addfile(info)
            if info.isdir() and _opaque(path):
                opq = tarfile.TarInfo(f"{name}/.wh..wh..opq")
                opq.mtime = st.st_mtime
                tar.addfile(opq)
