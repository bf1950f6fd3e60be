"""Tar streams out of a container's file system: ``docker cp`` from it and ``export``.

Every file is reached through ``ScopedRoot`` (directory fds, ``O_NOFOLLOW``),
so a container that swaps a directory for a symlink while it is archived makes
the walk fail or archive the link itself, never a host file. Also ``stat``'s
answer in docker's shape (Go ``FileMode`` bits). Blocking file work.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from datetime import UTC, datetime
from typing import BinaryIO

import msgspec

from pouch.engine._scoped import MOUNT_FLAGS, Resolved, ScopedRoot
from pouch.errors import NoSuchObject

__all__ = ["PathStat", "go_mode", "stat_path", "write_tar"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# Go's os.FileMode type bits, which docker's path stat carries.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHAR = 1 << 21
_GO_STICKY = 1 << 20


class PathStat(msgspec.Struct, kw_only=True, rename={"link_target": "linkTarget"}):
    """``X-Docker-Container-Path-Stat``: what ``docker cp`` learns about a path."""

    name: str
    size: int
    mode: int
    mtime: str
    link_target: str = ""


def go_mode(mode: int) -> int:
    """A ``st_mode`` as Go's ``os.FileMode``: permission bits plus Go's own type bits."""
    result = mode & 0o777
    kind = stat.S_IFMT(mode)
    result |= {
        stat.S_IFDIR: _GO_DIR,
        stat.S_IFLNK: _GO_SYMLINK,
        stat.S_IFIFO: _GO_PIPE,
        stat.S_IFSOCK: _GO_SOCKET,
        stat.S_IFBLK: _GO_DEVICE,
        stat.S_IFCHR: _GO_DEVICE | _GO_CHAR,
    }.get(kind, 0)
    if mode & stat.S_ISUID:
        result |= _GO_SETUID
    if mode & stat.S_ISGID:
        result |= _GO_SETGID
    if mode & stat.S_ISVTX:
        result |= _GO_STICKY
    return result


def _rfc3339(seconds: int, nanos: int) -> str:
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def stat_path(root: ScopedRoot, path: str) -> PathStat:
    """Docker's stat of container path ``path``; ``linkTarget`` is a link's resolved path."""
    with root.resolve(path, follow=_follows(path)) as found:
        st = _lstat(found, path)
        link = ""
        if stat.S_ISLNK(st.st_mode):
            with root.resolve(path, follow=True) as target:
                link = target.path
    name = posixpath.basename(path.rstrip("/")) or "/"
    return PathStat(
        name=name,
        size=st.st_size,
        mode=go_mode(st.st_mode),
        mtime=_rfc3339(int(st.st_mtime_ns // 10**9), st.st_mtime_ns % 10**9),
        link_target=link,
    )


def _follows(path: str) -> bool:
    """Docker follows a last symlink when the path ends in ``/`` or ``/.``."""
    return path.endswith("/") or path.endswith("/.")


def _lstat(found: Resolved, path: str) -> os.stat_result:
    try:
        return found.lstat()
    except FileNotFoundError:
        raise NoSuchObject(f"{path}: no such file or directory") from None


def write_tar(
    root: ScopedRoot, path: str, out: BinaryIO, *, volumes: bool = True, top: bool = True
) -> None:
    """Write ``path`` (a file or a whole tree) to ``out`` as a tar, as ``docker cp`` does.

    Entries are named from ``path``'s base name (``.`` for the root or for a
    path ending in ``/.``, whose contents then come unwrapped). ``volumes``:
    descend into what is mounted on the way (``export`` does not); ``top``:
    an entry for ``path`` itself (``export`` has only what is under ``/``).
    """
    base = "." if path.endswith("/.") else posixpath.basename(path.rstrip("/")) or "."
    with (
        root.resolve(path, follow=_follows(path)) as found,
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        _lstat(found, path)
        writer = _Writer(root, tar, volumes)
        if top:
            writer.entry(found.dir_fd, found.name, base, found.path)
        else:
            writer.children(found.dir_fd, found.name, base, found.path)


class _Writer:
    def __init__(self, root: ScopedRoot, tar: tarfile.TarFile, volumes: bool) -> None:
        self.root = root
        self.tar = tar
        self.volumes = volumes
        self.links: dict[tuple[int, int], str] = {}

    def entry(self, dir_fd: int, name: str, arcname: str, cpath: str) -> None:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = self.root.ids.to_container(st.st_uid, st.st_gid)
        info.mtime = st.st_mtime
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFSOCK:
            return  # as docker: sockets are not archived
        if kind != stat.S_IFDIR and st.st_nlink > 1:
            first = self.links.get((st.st_dev, st.st_ino))
            if first is not None:
                info.type, info.linkname = tarfile.LNKTYPE, first
                self.tar.addfile(info)
                return
            self.links[(st.st_dev, st.st_ino)] = arcname
        if kind == stat.S_IFREG:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as source:
                info.size = os.fstat(fd).st_size
                self.tar.addfile(info, source)
            return
        if kind == stat.S_IFLNK:
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dir_fd)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif kind == stat.S_IFIFO:
            info.type = tarfile.FIFOTYPE
        elif kind == stat.S_IFDIR:
            info.type = tarfile.DIRTYPE
            self.tar.addfile(info)
            self.children(dir_fd, name, arcname, cpath)
            return
        self.tar.addfile(info)

    def children(self, dir_fd: int, name: str, arcname: str, cpath: str) -> None:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        try:
            for child in sorted(os.listdir(fd)):
                child_path = posixpath.join(cpath, child)
                child_arc = child if arcname == "." else f"{arcname}/{child}"
                source = self.root.mount_at(child_path) if self.volumes else None
                if source is not None and os.path.isdir(source):
                    mount_fd = os.open(source, MOUNT_FLAGS)
                    try:
                        self.entry(mount_fd, ".", child_arc, child_path)
                    finally:
                        os.close(mount_fd)
                else:
                    self.entry(fd, child, child_arc, child_path)
        finally:
            os.close(fd)
