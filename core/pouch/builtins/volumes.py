"""The ``local`` volume driver: a directory per volume under the state root.

Each volume is ``<root>/volumes/<name>/_data`` with its metadata in
``<root>/volumes/<name>/volume.json`` beside it, as docker lays them out.
Staging is nothing to do (the directory is always there); publishing records
the container as a user and describes a bind mount of the directory, which the
runtime performs.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from pathlib import Path

import anyio
import msgspec

from pouch.config import EngineConfig
from pouch.drivers import Capability, DriverInfo, Mount, StagedVolume, VolumeDriver, VolumeInfo
from pouch.errors import Conflict, InvalidArgument, NoSuchObject
from pouch.markers import hookimpl
from pouch.models import parse_size
from pouch.quota import Projects, clear, limit

__all__ = ["LocalVolumes"]

_STAGING = ".new-"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


class _Meta(msgspec.Struct, omit_defaults=True):
    info: VolumeInfo
    users: list[str] = []


class LocalVolumes:
    name = "local"

    def __init__(self, root: Path, projects: Projects | None = None) -> None:
        self.root = root
        # Project IDs of sized volumes (the engine's, shared with containers').
        self.projects = projects or Projects(root.parent / "quota" / "projects.json")
        self._sweep()

    def _sweep(self) -> None:
        """Remove what creates cut short by a crash left (their hidden directories)."""
        if self.root.is_dir():
            for entry in self.root.iterdir():
                if entry.name.startswith(_STAGING):
                    shutil.rmtree(entry, ignore_errors=True)

    def describe(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            version="builtin",
            capabilities=[Capability.READ_ONLY],
            details={"root": str(self.root)},
        )

    def _dir(self, name: str) -> Path:
        if not _NAME.match(name):
            raise InvalidArgument(
                f"invalid volume name {name!r}: use letters, digits, '_', '.', '-'", field="name"
            )
        return self.root / name

    def _read(self, name: str) -> _Meta:
        try:
            data = (self._dir(name) / "volume.json").read_bytes()
        except FileNotFoundError:
            raise NoSuchObject(f"no such volume: {name}") from None
        return msgspec.json.decode(data, type=_Meta)

    def _write(self, meta: _Meta) -> None:
        path = self._dir(meta.info.name) / "volume.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(meta))
        os.replace(tmp, path)

    async def create(
        self, name: str, options: dict[str, str], labels: dict[str, str]
    ) -> VolumeInfo:
        unknown = sorted(set(options) - {"size"})
        if unknown:
            raise InvalidArgument(
                f"the local driver takes only the option size (got {', '.join(unknown)})",
                field="options",
            )
        try:
            size = parse_size(options["size"]) if "size" in options else 0
        except ValueError as exc:
            raise InvalidArgument(str(exc), field="options.size") from None
        directory = self._dir(name)
        try:
            return self._read(name).info
        except NoSuchObject:
            pass
        # Made aside and renamed into place: a crash leaves a hidden directory
        # (swept at the next start), never a volume without its volume.json.
        staging = self.root / f"{_STAGING}{name}-{secrets.token_hex(4)}"
        (staging / "_data").mkdir(parents=True)
        try:
            if size:
                limit(
                    staging / "_data", f"volume:{name}", size, self.projects, field="options.size"
                )
            info = VolumeInfo(
                name=name,
                driver=self.name,
                mountpoint=str(directory / "_data"),
                created_at=time.time(),
                labels=labels,
                options=dict(options),
            )
            (staging / "volume.json").write_bytes(msgspec.json.encode(_Meta(info=info)))
            try:
                staging.rename(directory)
            except OSError:
                if not directory.is_dir():
                    raise
                return self._read(name).info  # made by a create at the same time
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return info

    async def remove(self, name: str) -> None:
        meta = self._read(name)
        if meta.users:
            raise Conflict(f"volume {name} is in use by container {meta.users[0][:12]}")
        await anyio.to_thread.run_sync(shutil.rmtree, self._dir(name))
        if "size" in meta.info.options:
            clear(self.root, f"volume:{name}", self.projects)

    async def get(self, name: str) -> VolumeInfo:
        return self._read(name).info

    async def list(self) -> list[VolumeInfo]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(self.root.iterdir()):
            try:
                found.append(self._read(entry.name).info)
            except (NoSuchObject, InvalidArgument):
                continue
        return found

    async def stage(self, volume: VolumeInfo) -> StagedVolume:
        meta = self._read(volume.name)
        return StagedVolume(name=volume.name, driver=self.name, staging_path=meta.info.mountpoint)

    async def publish(
        self, staged: StagedVolume, container_id: str, *, read_only: bool = False
    ) -> Mount:
        meta = self._read(staged.name)
        if container_id not in meta.users:
            meta.users.append(container_id)
            self._write(meta)
        options = ["rbind", "ro" if read_only else "rw"]
        return Mount(type="bind", source=meta.info.mountpoint, options=options)

    async def unpublish(self, staged: StagedVolume, container_id: str) -> None:
        try:
            meta = self._read(staged.name)
        except NoSuchObject:
            return
        if container_id in meta.users:
            meta.users.remove(container_id)
            self._write(meta)

    async def unstage(self, staged: StagedVolume) -> None:
        return None  # nothing was done at stage


@hookimpl
def pouch_add_volume_drivers(config: EngineConfig) -> list[VolumeDriver]:
    return [LocalVolumes(config.root / "volumes")]
