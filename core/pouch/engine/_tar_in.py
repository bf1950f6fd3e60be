"""Extract a tar into a directory of a container: ``docker cp`` into it (``PUT archive``).

The archive is checked whole before anything is written: it must be a tar
(plain or compressed), and no entry name nor hard link target may climb out
of the destination (``../x``); absolute names are taken relative to the
destination, as docker does. Each entry's parent is then resolved inside the
container's root by ``ScopedRoot`` (so a symlink extracted earlier, even one
pointing at ``/etc`` or ``..``, leads to the container's own directory, never
the host's) and created with ``*at`` calls on that directory's fd, never
following a link. Device nodes are created as docker creates them. Blocking.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from pathlib import Path

from pouch.engine._scoped import Resolved, ScopedRoot
from pouch.errors import InvalidArgument, NoSuchObject

__all__ = ["extract_tar"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _relative(name: str, what: str) -> str:
    """An entry's path relative to the destination; ``..`` out of it is refused."""
    rel = posixpath.normpath(name.lstrip("/") or ".")
    if rel == ".." or rel.startswith("../"):
        raise InvalidArgument(f"invalid archive: {what} {name!r} is outside the destination")
    return rel


def _open_tar(source: Path) -> tarfile.TarFile:
    try:
        tar = tarfile.open(source, mode="r:*")  # noqa: SIM115 - returned to the caller
        tar.getmembers()  # reads every header: a truncated or corrupt tar fails here
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidArgument(f"the request body is not a valid tar archive: {exc}") from None
    return tar


def extract_tar(
    root: ScopedRoot,
    dest: str,
    source: Path,
    *,
    no_overwrite_dir_non_dir: bool = False,
    owner: tuple[int, int] | None = None,
    read_only: bool = False,
) -> None:
    """Extract the tar file ``source`` into the directory ``dest`` of ``root``.

    ``owner`` (uid, gid) replaces the archive's owners (``copyUIDGID``);
    ``read_only``: the root filesystem is, only volumes and binds take files.
    Raises ``NoSuchObject`` when ``dest`` does not exist and
    ``InvalidArgument`` when it is no directory or the archive is refused.
    """
    with root.resolve(dest, follow=True) as found:
        try:
            if not stat.S_ISDIR(found.lstat().st_mode):
                raise InvalidArgument("extraction point is not a directory", field="path")
        except FileNotFoundError:
            raise NoSuchObject(f"{dest}: no such file or directory") from None
        base = found.path
    if read_only and not root.in_mount(base):
        raise InvalidArgument("container rootfs is marked read-only", field="path")
    with _open_tar(source) as tar:
        members = tar.getmembers()
        for member in members:
            _relative(member.name, "entry")
            if member.islnk():
                _relative(member.linkname, "hard link target")
        extractor = _Extractor(root, base, tar, no_overwrite_dir_non_dir, owner, read_only)
        directories = []
        for member in members:
            if extractor.extract(member) and member.isdir():
                directories.append(member)
        for member in reversed(directories):  # children changed their mtimes
            extractor.finish_dir(member)


class _Extractor:
    def __init__(
        self,
        root: ScopedRoot,
        base: str,
        tar: tarfile.TarFile,
        no_overwrite: bool,
        owner: tuple[int, int] | None,
        read_only: bool,
    ) -> None:
        self.read_only = read_only
        self.root = root
        self.base = base
        self.tar = tar
        self.no_overwrite = no_overwrite
        self.owner = owner

    def _path(self, name: str, what: str = "entry") -> str:
        return posixpath.join(self.base, _relative(name, what))

    def _ids(self, member: tarfile.TarInfo) -> tuple[int, int]:
        """The owner on the host: the archive's (or ``owner``), through the user namespace."""
        uid, gid = self.owner if self.owner is not None else (member.uid, member.gid)
        return self.root.ids.to_host(uid, gid)

    def extract(self, member: tarfile.TarInfo) -> bool:
        """Create one entry; False for what is skipped (the destination itself)."""
        if _relative(member.name, "entry") == ".":
            return False
        with self.root.resolve(self._path(member.name), make_parents=True) as at:
            if self.read_only and not self.root.in_mount(at.path):  # led there by a link
                raise InvalidArgument(f"container rootfs is marked read-only: {at.path}")
            if self.root.mount_at(at.path) is not None:
                if member.isdir():
                    return False  # a volume's directory stays as it is
                raise InvalidArgument(f"cannot overwrite the mount point {at.path}")
            self._make_room(at, member)
            if member.isdir():
                if not at.exists():
                    os.mkdir(at.name, 0o700, dir_fd=at.dir_fd)
                fd = os.open(at.name, _DIR_FLAGS, dir_fd=at.dir_fd)
                try:
                    self._own(fd, member)
                finally:
                    os.close(fd)
            elif member.isreg():
                self._file(at, member)
            elif member.issym():
                os.symlink(member.linkname, at.name, dir_fd=at.dir_fd)
                uid, gid = self._ids(member)
                os.chown(at.name, uid, gid, dir_fd=at.dir_fd, follow_symlinks=False)
                mtime = int(member.mtime * 10**9)
                os.utime(at.name, ns=(mtime, mtime), dir_fd=at.dir_fd, follow_symlinks=False)
            elif member.islnk():
                self._hard_link(at, member)
            elif member.ischr() or member.isblk() or member.isfifo():
                self._node(at, member)
            else:
                return False  # sockets and unknown types, as docker skips them
        return True

    def _make_room(self, at: Resolved, member: tarfile.TarInfo) -> None:
        try:
            existing = at.lstat()
        except FileNotFoundError:
            return
        is_dir = stat.S_ISDIR(existing.st_mode)
        if is_dir and member.isdir():
            return
        if self.no_overwrite and is_dir != member.isdir():
            what = "directory" if is_dir else "non-directory"
            other = "non-directory" if is_dir else "directory"
            raise InvalidArgument(f"cannot overwrite {what} {at.path!r} with {other}")
        if is_dir:
            shutil.rmtree(at.name, dir_fd=at.dir_fd)
        else:
            os.unlink(at.name, dir_fd=at.dir_fd)

    def _own(self, fd: int, member: tarfile.TarInfo) -> None:
        uid, gid = self._ids(member)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, member.mode & 0o7777)  # after chown, which clears set-id bits
        mtime = int(member.mtime * 10**9)
        os.utime(fd, ns=(mtime, mtime))

    def _file(self, at: Resolved, member: tarfile.TarInfo) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(at.name, flags, 0o600, dir_fd=at.dir_fd)
        with os.fdopen(fd, "wb") as out:
            data = self.tar.extractfile(member)
            if data is not None:
                shutil.copyfileobj(data, out, 1 << 20)
            out.flush()
            self._own(fd, member)

    def _hard_link(self, at: Resolved, member: tarfile.TarInfo) -> None:
        target_path = self._path(member.linkname, "hard link target")
        try:
            target = self.root.resolve(target_path)
        except NoSuchObject:
            target = None
        if target is None or not target.exists():
            if target is not None:
                target.close()
            raise InvalidArgument(f"invalid archive: hard link target {target_path} is missing")
        with target:
            try:
                os.link(
                    target.name,
                    at.name,
                    src_dir_fd=target.dir_fd,
                    dst_dir_fd=at.dir_fd,
                    follow_symlinks=False,
                )
            except OSError as exc:
                raise InvalidArgument(f"cannot link {at.path} to {target_path}: {exc}") from None

    def _node(self, at: Resolved, member: tarfile.TarInfo) -> None:
        if member.isfifo():
            os.mkfifo(at.name, 0o600, dir_fd=at.dir_fd)
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
            os.mknod(at.name, kind | 0o600, device, dir_fd=at.dir_fd)
        # O_PATH opens the node itself (not the device); /proc/self/fd names that inode.
        fd = os.open(at.name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=at.dir_fd)
        try:
            uid, gid = self._ids(member)
            os.chown(f"/proc/self/fd/{fd}", uid, gid)
            os.chmod(f"/proc/self/fd/{fd}", member.mode & 0o7777)
            mtime = int(member.mtime * 10**9)
            os.utime(f"/proc/self/fd/{fd}", ns=(mtime, mtime))
        finally:
            os.close(fd)

    def finish_dir(self, member: tarfile.TarInfo) -> None:
        with self.root.resolve(self._path(member.name)) as at:
            try:
                fd = os.open(at.name, _DIR_FLAGS, dir_fd=at.dir_fd)
            except OSError:
                return  # replaced by a later entry
            try:
                mtime = int(member.mtime * 10**9)
                os.utime(fd, ns=(mtime, mtime))
            finally:
                os.close(fd)
