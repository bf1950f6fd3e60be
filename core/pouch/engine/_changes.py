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

from pouch import oci
from pouch.drivers import Mount
from pouch.models import Container

__all__ = ["Change", "changes", "lower_dirs", "mount_points", "write_layer"]

_OPAQUE = "trusted.overlay.opaque"
_ETC_FILES = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


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


def mount_points(container: Container) -> frozenset[str]:
    """Where the container's spec mounts something: /etc/hosts, /proc, volumes …

    A runtime creates an empty file or directory there when the image has
    none. dockerd makes those in an "init" layer below the container's, so
    they are not the container's changes; here they are left out by name.
    """
    found = set(_ETC_FILES)  # the sandbox's, mounted at each start
    if container.spec:
        spec = msgspec.json.decode(container.spec, type=oci.Spec)
        found.update(posixpath.normpath(m.destination) for m in spec.mounts)
    return frozenset(found)


def _mount_point(rel: str, st: os.stat_result, path: Path, skip: frozenset[str]) -> bool:
    """An empty file or directory made only to mount something on."""
    if rel not in skip:
        return False
    if stat.S_ISDIR(st.st_mode):
        return not os.listdir(path)
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


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


def changes(upper: Path, lowers: list[Path], skip: frozenset[str] = frozenset()) -> list[Change]:
    """docker diff's list; ``skip``: mount points (see ``mount_points``) left out."""
    result: list[Change] = []
    listed: set[str] = set()
    for rel, path, st in _walk(upper):
        if _mount_point(rel, st, path, skip):
            continue
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
                if same_dir and st.st_mode == below.st_mode:
                    # Copied up because something below changed (listed then,
                    # as the parent of that change), or made to hold a mount point.
                    continue
                change = Change(rel, 0)
        _list_parents(rel, result, listed)
        listed.add(rel)
        result.append(change)
    return result


def _list_parents(rel: str, result: list[Change], listed: set[str]) -> None:
    """List the directories above ``rel`` as modified, as dockerd does, once each."""
    missing = []
    parent = posixpath.dirname(rel)
    while parent != "/" and parent not in listed:
        missing.append(parent)
        parent = posixpath.dirname(parent)
    for directory in reversed(missing):
        result.append(Change(directory, 0))
        listed.add(directory)


def write_layer(upper: Path, out: BinaryIO, skip: frozenset[str] = frozenset()) -> None:
    """The upper dir as an image layer tar: whiteouts become ``.wh.`` entries;
    ``skip``: mount points left out."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, path, st in _walk(upper):
            if _mount_point(rel, st, path, skip):
                continue
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
