"""The engine's file access into containers: ``docker cp`` both ways, ``export``, ``diff``.

``ContainerFiles`` reaches a container's file system whatever its state: a
running container's root filesystem where its runtime mounted it on the host
(found by its overlay upper dir in the mount table), else the snapshot
mounted for the duration of the operation in a private directory under the
run root and unmounted after. Volumes and bind mounts are reached at their
host directories, as docker does. Every path is resolved inside that root
(``_scoped``): nothing here may touch a host file outside it.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

import anyio
import msgspec

from pouch import oci
from pouch.config import EngineConfig
from pouch.engine._changes import Change, changes, lower_dirs, mount_points
from pouch.engine._records import Records
from pouch.engine._sandboxes import Sandboxes
from pouch.engine._scoped import IdShift, ScopedRoot, clean
from pouch.engine._tar_in import extract_tar
from pouch.engine._tar_out import PathStat, stat_path, write_tar
from pouch.errors import InvalidArgument, NoSuchContainer, NoSuchObject
from pouch.images import ImageStore
from pouch.models import Container, State
from pouch.mounts import mount_all, mount_table, unmount

__all__ = ["ContainerFiles", "PathStat", "no_such_container", "tar_stream"]

log = logging.getLogger(__name__)

# Host file systems a container sees through bind mounts but docker cp must not write.
_NEVER = ("/proc", "/sys", "/dev")
_ETC = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")
_LIVE = (State.RUNNING, State.PAUSED, State.RESTARTING)


def no_such_container(ref: str) -> NoSuchContainer:
    """``NoSuchContainer`` in dockerd's words, which these endpoints' clients show."""
    error = NoSuchContainer(ref)
    error.message = f"No such container: {ref}"
    error.args = (error.message,)
    return error


async def tar_stream(write: Callable[[BinaryIO], None]) -> AsyncIterator[bytes]:
    """The bytes ``write`` writes (in a thread of its own) into a pipe, as they come.

    No task group is held across the ``yield``: the consumer may be cancelled
    (the client hung up) while this generator is suspended, and a cancel
    scope of ours would then be exited from the wrong task. Closing the read
    end makes a writer still going fail with EPIPE; it is joined before the
    generator ends, so the caller may unmount what it was reading.
    """
    read_fd, write_fd = os.pipe()

    def produce() -> None:
        try:
            with open(write_fd, "wb") as out:
                write(out)
        except BrokenPipeError:
            pass  # the reader went away
        except Exception:  # the tar ends short; the client sees a truncated stream
            log.exception("writing a tar stream failed")

    thread = threading.Thread(target=produce, name="tar-stream", daemon=True)
    thread.start()
    try:
        with open(read_fd, "rb", buffering=0) as source:  # noqa: ASYNC230 - a pipe
            while chunk := await anyio.to_thread.run_sync(source.read, 1 << 16):
                yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(thread.join, 60.0)


class ContainerFiles:
    def __init__(
        self, config: EngineConfig, records: Records, store: ImageStore, sandboxes: Sandboxes
    ) -> None:
        self.config = config
        self.records = records
        self.store = store
        self.sandboxes = sandboxes
        self._private = config.run_root / "archive"

    def container(self, ref: str) -> Container:
        try:
            return self.records.lookup(ref)
        except NoSuchContainer:
            raise no_such_container(ref) from None

    # -- the root -------------------------------------------------------------

    def _spec(self, container: Container) -> oci.Spec | None:
        return msgspec.json.decode(container.spec, type=oci.Spec) if container.spec else None

    def _ids(self, container: Container) -> IdShift:
        spec = self._spec(container)
        if spec is None or spec.linux is None:
            return IdShift()
        return IdShift(
            [(m.container_id, m.host_id, m.size) for m in spec.linux.uid_mappings],
            [(m.container_id, m.host_id, m.size) for m in spec.linux.gid_mappings],
        )

    def _binds(self, container: Container) -> dict[str, str]:
        spec = self._spec(container)
        if spec is None:
            return {}
        binds: dict[str, str] = {}
        for mount in spec.mounts:
            bind = mount.type == "bind" or {"bind", "rbind"} & set(mount.options)
            dest = clean(mount.destination)
            if bind and mount.source.startswith("/") and not dest.startswith(_NEVER):
                binds[dest] = mount.source
        if container.state.status in _LIVE:  # the sandbox's files over the image's
            sandbox = self.sandboxes.describe(container)
            taken = {clean(m.target) for m in container.config.mounts}
            sources = (sandbox.hostname_path, sandbox.hosts_path, sandbox.resolv_conf_path)
            for target, source in zip(_ETC, sources, strict=True):
                if target not in taken and os.path.isfile(source):
                    binds[target] = source
        return binds

    def _host_mount(self, container: Container) -> str | None:
        """Where the runtime mounted the running container's root on the host, if it did."""
        try:
            upper = f"upperdir={self.store.writable(container.id) / 'fs'}"
        except NoSuchObject:
            return None
        for entry in mount_table():
            ours = entry.point.startswith(str(self._private) + "/")
            if entry.fstype == "overlay" and upper in entry.options and not ours:
                return entry.point
        return None

    def _mount(self, container: Container) -> Path:
        target = self._private / f"{container.short_id}-{secrets.token_hex(4)}"
        target.mkdir(parents=True, mode=0o700)
        try:
            mount_all(self.store.mounts(container.id), target)
        except BaseException:
            target.rmdir()
            raise
        return target

    @staticmethod
    def _unmount(target: Path) -> None:
        unmount(target)
        target.rmdir()

    @asynccontextmanager
    async def scope(self, container: Container) -> AsyncIterator[ScopedRoot]:
        """The container's file system, mounted for as long as the block runs."""
        binds, ids = self._binds(container), self._ids(container)
        found = await anyio.to_thread.run_sync(self._host_mount, container)
        if found is not None:
            yield ScopedRoot(found, binds, ids)
            return
        target = await anyio.to_thread.run_sync(self._mount, container)
        try:
            yield ScopedRoot(str(target), binds, ids)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._unmount, target)

    def _missing(self, container: Container, path: str) -> NoSuchObject:
        return NoSuchObject(f"Could not find the file {path} in container {container.name}")

    # -- docker cp ------------------------------------------------------------

    async def stat(self, ref: str, path: str) -> PathStat:
        """Docker's stat of ``path`` in the container (``HEAD …/archive``)."""
        container = self.container(ref)
        async with self.scope(container) as root:
            try:
                return await anyio.to_thread.run_sync(stat_path, root, path)
            except (NoSuchObject, FileNotFoundError, NotADirectoryError):
                raise self._missing(container, path) from None
            except OSError as exc:  # a link loop, or a container changing it meanwhile
                raise InvalidArgument(f"cannot stat {path}: {exc.strerror}", field="path") from None

    async def get(self, ref: str, path: str) -> tuple[PathStat, AsyncIterator[bytes]]:
        """The stat of ``path`` and a tar of it, as ``GET …/archive`` answers."""
        found = await self.stat(ref, path)
        container = self.container(ref)

        async def chunks() -> AsyncIterator[bytes]:
            async with self.scope(container) as root:
                async for chunk in tar_stream(functools.partial(write_tar, root, path)):
                    yield chunk
            self.records.publish(container, "archive-path")

        return found, chunks()

    async def put(
        self,
        ref: str,
        path: str,
        source: Path,
        *,
        no_overwrite_dir_non_dir: bool = False,
        copy_uid_gid: bool = False,
    ) -> None:
        """Extract the tar file ``source`` into the directory ``path`` of the container."""
        container = self.container(ref)
        # A stopped container is not started while its files are written (the
        # runtime would mount the same upper dir a second time meanwhile).
        async with self.records.lock(container.id), self.scope(container) as root:
            owner = None
            if copy_uid_gid:
                owner = await anyio.to_thread.run_sync(self._owner, container, root)
            extract = functools.partial(
                extract_tar,
                root,
                path,
                source,
                no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                owner=owner,
                read_only=container.config.read_only_rootfs,
            )
            try:
                await anyio.to_thread.run_sync(extract)
            except (NoSuchObject, FileNotFoundError):
                raise self._missing(container, path) from None
            except OSError as exc:
                raise InvalidArgument(f"cannot extract into {path}: {exc}", field="path") from None
        self.records.publish(container, "extract-to-dir")

    @staticmethod
    def _owner(container: Container, root: ScopedRoot) -> tuple[int, int]:
        """The container user's IDs, from its own /etc/passwd (``docker cp -a``)."""
        from pouch.users import resolve_user

        user = (
            oci.User(uid=0, gid=0, username=container.config.user)
            if container.config.user
            else None
        )
        if user is None:
            return (0, 0)
        etc = Path(root.root)
        found = resolve_user(user, etc)
        return (found.uid, found.gid)

    # -- export and changes -----------------------------------------------------

    async def export(self, ref: str) -> AsyncIterator[bytes]:
        """A tar of the container's whole root filesystem (volumes left out, as docker)."""
        container = self.container(ref)

        async def chunks() -> AsyncIterator[bytes]:
            async with self.scope(container) as root:
                bare = ScopedRoot(root.root, ids=root.ids)  # no volumes
                write = functools.partial(write_tar, bare, "/", volumes=False)
                async for chunk in tar_stream(lambda out: write(out, top=False)):
                    yield chunk
            self.records.publish(container, "export")

        return chunks()

    async def changes(self, ref: str) -> list[Change]:
        """What the container changed in its image's file system, as ``docker diff``."""
        container = self.container(ref)

        def walk() -> list[Change]:
            upper = self.store.writable(container.id) / "fs"
            lowers = lower_dirs(self.store.mounts(container.id))
            return changes(upper, lowers, mount_points(container))

        return await anyio.to_thread.run_sync(walk)
