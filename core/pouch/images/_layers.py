"""Apply one layer tarball to an empty directory, entry by entry, safely.

Owns extracting entries (ownership, modes, mtimes, links, device nodes, xattrs),
the diffID (sha256 of the uncompressed stream, via ``_streams``, computed while
applying) and turning OCI whiteouts into overlayfs ones (a char device 0:0, or
the opaque xattr on a directory). Every path is walked from the layer root with
``O_NOFOLLOW`` directory fds (``_paths``): an entry that is absolute, has a
``..`` component, goes through a symlink or hard-links outside the layer is
refused with ``InvalidArgument`` naming it. This module must never follow a
symlink inside the layer nor touch anything outside the directory it is given;
removing a half-applied directory is the caller's job (``Snapshotter.commit``).
Blocking.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import stat
import tarfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

from pouch.errors import InvalidArgument
from pouch.images._paths import (
    DIR_FLAGS,
    OPAQUE_XATTR,
    is_whiteout,
    lstat_at,
    open_dir,
    remove_at,
    set_opaque,
    split_entry,
)
from pouch.images._streams import Hashing, decompressed, write_all

__all__ = ["LayerInfo", "apply_layer"]

log = logging.getLogger(__name__)

_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_XATTR_PAX = "SCHILY.xattr."
_CHUNK = 1 << 20


class LayerInfo(NamedTuple):
    diff_id: str
    size: int  # bytes of regular file content, hard links counted once


class _Applier:
    def __init__(self, root_fd: int, whiteouts: bool) -> None:
        self.root_fd = root_fd
        self.whiteouts = whiteouts
        self.size = 0
        self.owner = os.geteuid() == 0
        # Directory modes and mtimes are set last: adding entries changes mtimes.
        self.dirs: list[tuple[list[str], int, int]] = []

    def _chown(self, path: int | str, member: tarfile.TarInfo, parent: int | None = None) -> None:
        # Only root can give files away; others keep their own, as GNU tar does.
        if self.owner and isinstance(path, int):
            os.fchown(path, member.uid, member.gid)
        elif self.owner:
            os.chown(path, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)

    def open_dir(self, parts: list[str], entry: str, *, create: bool) -> int | None:
        return open_dir(self.root_fd, parts, entry, create=create, whiteouts=self.whiteouts)

    def apply(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        entry = member.name
        parts = split_entry(entry, entry)
        if not parts:
            if member.isdir():
                self._set_xattrs(self.root_fd, ".", member)
                self._chown(self.root_fd, member)
                self.dirs.append(([], member.mode, _ns(member.mtime)))
            return
        *parents, name = parts
        if name.startswith(_WHITEOUT):
            self._whiteout(parents, name, entry)
            return
        parent = self.open_dir(parents, entry, create=True)
        assert parent is not None
        try:
            self._create(tar, member, parent, parents, name)
        finally:
            os.close(parent)

    def _whiteout(self, parents: list[str], name: str, entry: str) -> None:
        target = name[len(_WHITEOUT) :]
        if name != _OPAQUE and target.startswith(_WHITEOUT):
            return  # other ".wh..wh." names are aufs bookkeeping, meaningless here
        if target in ("", ".", ".."):
            raise InvalidArgument(f"layer entry {entry!r} is not a valid whiteout")
        # In a base layer there is nothing below to hide; still refuse unsafe paths.
        parent = self.open_dir(parents, entry, create=self.whiteouts)
        if parent is None:
            return
        try:
            if not self.whiteouts:
                return
            existing = None if name == _OPAQUE else lstat_at(target, parent)
            if name == _OPAQUE:
                os.setxattr(parent, OPAQUE_XATTR, b"y")
            elif existing is None:
                os.mknod(target, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
            elif stat.S_ISDIR(existing.st_mode):
                # Same-layer content stays (image-spec), but the lower dir must go.
                self._opaque(parent, target)
        finally:
            os.close(parent)

    def _opaque(self, parent: int, name: str) -> None:
        if self.whiteouts:
            set_opaque(parent, name)

    def _create(
        self,
        tar: tarfile.TarFile,
        member: tarfile.TarInfo,
        parent: int,
        parents: list[str],
        name: str,
    ) -> None:
        existing = lstat_at(name, parent)
        if member.isdir():
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                remove_at(name, parent, existing)
                os.mkdir(name, 0o700, dir_fd=parent)
                if existing is not None and is_whiteout(existing):
                    self._opaque(parent, name)  # replaces the lower dir, not merged with it
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
            try:
                self._chown(fd, member)
                self._set_xattrs(fd, name, member)
            finally:
                os.close(fd)
            self.dirs.append(([*parents, name], member.mode, _ns(member.mtime)))
            return
        if member.islnk():
            self._link(member, parent, name, existing)
            return
        remove_at(name, parent, existing)
        if member.isreg():
            self._file(tar, member, parent, name)
            return
        if member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
            os.mknod(name, kind | (member.mode & 0o7777), device, dir_fd=parent)
        elif member.isfifo():
            os.mknod(name, stat.S_IFIFO | (member.mode & 0o7777), dir_fd=parent)
        else:
            log.debug("skipping layer entry %r of unsupported type %r", member.name, member.type)
            return
        self._chown(name, member, parent)
        if not member.issym():  # chown cleared setuid/setgid bits: set the mode after it
            os.chmod(name, member.mode & 0o7777, dir_fd=parent)
        self._set_xattrs(parent, name, member, at=True)
        mtime = _ns(member.mtime)
        os.utime(name, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=parent)
        try:
            source = tar.extractfile(member)
            if source is not None:
                with source:
                    while chunk := source.read(_CHUNK):
                        write_all(fd, chunk)
            self._chown(fd, member)
            os.fchmod(fd, member.mode & 0o7777)
            self._set_xattrs(fd, name, member)
            mtime = _ns(member.mtime)
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)
        self.size += member.size

    def _link(
        self, member: tarfile.TarInfo, parent: int, name: str, existing: os.stat_result | None
    ) -> None:
        entry = member.name
        target = split_entry(member.linkname, entry)
        outside = InvalidArgument(
            f"layer entry {entry!r}: hard link target {member.linkname!r} is not in the layer"
        )
        if not target:
            raise outside
        try:
            target_dir = self.open_dir(target[:-1], entry, create=False)
        except InvalidArgument:
            raise outside from None
        if target_dir is None:
            raise outside
        try:
            source = lstat_at(target[-1], target_dir)
            if source is None or stat.S_ISDIR(source.st_mode):
                raise outside
            if existing and (existing.st_dev, existing.st_ino) == (source.st_dev, source.st_ino):
                return
            remove_at(name, parent, existing)
            link = functools.partial(os.link, src_dir_fd=target_dir, dst_dir_fd=parent)
            link(target[-1], name, follow_symlinks=False)
        finally:
            os.close(target_dir)

    def _set_xattrs(self, fd: int, name: str, member: tarfile.TarInfo, *, at: bool = False) -> None:
        for key, value in member.pax_headers.items():
            if not key.startswith(_XATTR_PAX):
                continue
            attr = key[len(_XATTR_PAX) :]
            if attr.startswith("trusted.overlay."):
                continue  # overlayfs' own attributes must come from whiteouts only
            data = value.encode("utf-8", "surrogateescape")
            try:
                if at:  # a symlink or device node: set on the entry, through its parent fd
                    os.setxattr(f"/proc/self/fd/{fd}/{name}", attr, data, follow_symlinks=False)
                else:
                    os.setxattr(fd, attr, data)
            except OSError as exc:
                log.debug("layer entry %r: cannot set xattr %s: %s", member.name, attr, exc)

    def finish(self) -> None:
        for parts, mode, mtime in sorted(self.dirs, key=lambda d: len(d[0]), reverse=True):
            try:
                fd = self.open_dir(parts, "/".join(parts), create=False)
            except InvalidArgument:
                fd = None
            if fd is None:  # replaced by a later entry of another type
                continue
            try:
                os.fchmod(fd, mode & 0o7777)
                os.utime(fd, ns=(mtime, mtime))
            finally:
                os.close(fd)


def _ns(mtime: float) -> int:
    return int(mtime * 1_000_000_000)


def apply_layer(stream: BinaryIO, dest: Path, *, whiteouts: bool = True) -> LayerInfo:
    """Unpack the layer tarball ``stream`` into the empty directory ``dest`` (blocking).

    ``whiteouts=False`` (for a base layer) drops whiteouts instead of creating
    them. Returns the diffID and content size. Raises ``InvalidArgument`` for an
    unsafe or malformed entry and ``NotSupported`` for zstd without ``zstandard``;
    ``dest`` is then left half-filled for the caller to remove.
    """
    root_fd = os.open(dest, DIR_FLAGS)
    try:
        reader = Hashing(decompressed(stream))
        applier = _Applier(root_fd, whiteouts)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                while (member := tar.next()) is not None:
                    applier.apply(tar, member)
                    cast(Any, tar).members.clear()  # stream mode keeps every header
            reader.drain()
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InvalidArgument(f"the layer is not a valid tar archive: {exc}") from None
        applier.finish()
    finally:
        os.close(root_fd)
    return LayerInfo(diff_id=f"sha256:{reader.hash.hexdigest()}", size=applier.size)
