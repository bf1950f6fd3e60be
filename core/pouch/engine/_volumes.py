"""Volumes: named data that outlives containers, staged once and published per container.

``Volumes`` owns the engine's volume API (create, inspect, list, remove,
prune) and the way containers use volumes: before a container's first use the
volume is *staged* on this node, then *published* to each container, and when
the container goes it is *unpublished*; the last user going *unstages* it.
Every step is recorded in the store before the driver is asked, so after a
crash ``reconcile`` finishes what was left half-done. A per-volume lock makes
"is it in use?" and "use it" exclusive: a volume cannot be removed while a
container is being created on it.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence

import anyio

from pouch import oci
from pouch.config import EngineConfig
from pouch.drivers import (
    Capability,
    Mount,
    StagedVolume,
    UpdatableVolumeDriver,
    VolumeDriver,
    VolumeInfo,
)
from pouch.engine._filters import has_label, prune_selects
from pouch.engine._records import Records
from pouch.engine._undo import Undo
from pouch.errors import Conflict, InvalidArgument, NoSuchObject, NotSupported
from pouch.events import EventBus
from pouch.kernel import Kernel
from pouch.models import Container
from pouch.store import StageRecord, VolumeStageTable

__all__ = ["ANONYMOUS_LABEL", "Volumes", "prunable"]

# Marks the volumes made for a container's anonymous mounts, as docker does.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"

log = logging.getLogger(__name__)

_FILTERS = frozenset({"name", "driver", "label", "dangling"})


class Volumes:
    def __init__(
        self,
        config: EngineConfig,
        kernel: Kernel,
        records: Records,
        stages: VolumeStageTable,
        events: EventBus,
    ) -> None:
        self.config = config
        self.kernel = kernel
        self.records = records
        self.stages = stages
        self.events = events
        self._locks: dict[tuple[str, str], anyio.Lock] = {}

    def _lock(self, driver: str, name: str) -> anyio.Lock:
        return self._locks.setdefault((driver, name), anyio.Lock())

    def _drivers(self) -> builtins.list[VolumeDriver]:
        default = self.config.default_volume_driver
        return sorted(self.kernel.volumes, key=lambda d: d.name != default)

    # -- the volume API ----------------------------------------------------------

    async def create(
        self,
        name: str = "",
        *,
        driver: str = "",
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> VolumeInfo:
        """Create a volume (a random name when ``name`` is empty); an existing one is returned."""
        implementation = self.kernel.volumes.get(driver or self.config.default_volume_driver)
        if name:
            with contextlib.suppress(NoSuchObject):
                holder, _ = await self.find(name)
                if holder.name != implementation.name:
                    raise Conflict(
                        f"volume {name} already exists with driver {holder.name}:"
                        " choose another name, or remove it first"
                    )
        name = name or secrets.token_hex(32)
        info = await implementation.create(name, dict(options or {}), dict(labels or {}))
        self.events.publish("volume", "create", name, {"driver": implementation.name})
        return info

    async def find(self, name: str) -> tuple[VolumeDriver, VolumeInfo]:
        """The volume ``name`` and its driver, asking the default driver first."""
        for driver in self._drivers():
            try:
                return driver, await driver.get(name)
            except (NoSuchObject, InvalidArgument):
                continue
        raise NoSuchObject(f"no such volume: {name}")

    async def inspect(self, name: str) -> VolumeInfo:
        return (await self.find(name))[1]

    def in_use(self) -> set[str]:
        """Names of the volumes some container uses (its mounts, or staged for it)."""
        used = {r.name for r in self.stages.all() if r.users}
        for container in self.records.all():
            used.update(name for _, name in container.volumes)
            used.update(
                m.source for m in container.config.mounts if m.type == "volume" and m.source
            )
        return used

    async def list(
        self, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[VolumeInfo]:
        """Every driver's volumes matching docker's filters (name, driver, label, dangling)."""
        filters = filters or {}
        _check_filters(filters, _FILTERS)
        used = self.in_use()
        found = [info for driver in self._drivers() for info in await driver.list()]
        return [v for v in found if _matches(v, filters, used)]

    async def remove(self, name: str, *, force: bool = False) -> None:
        """Delete a volume no container uses; ``force`` ignores a missing one."""
        try:
            driver, _ = await self.find(name)
        except NoSuchObject:
            if force:
                return
            raise
        async with self._lock(driver.name, name):
            if name in self.in_use():
                users = [c.name for c in self.records.all() if name in _volume_names(c)]
                raise Conflict(
                    f"volume {name} is in use by "
                    + (f"container {', '.join(users)}" if users else "a container being created")
                    + "; remove the container first"
                )
            await driver.remove(name)
        self.events.publish("volume", "destroy", name, {"driver": driver.name})

    async def update(self, name: str, options: dict[str, str]) -> VolumeInfo:
        """Change a volume's options in place (``size``), where its driver can."""
        driver, _ = await self.find(name)
        if Capability.UPDATE_VOLUME not in driver.describe().capabilities or not isinstance(
            driver, UpdatableVolumeDriver
        ):
            raise NotSupported(f"the {driver.name} volume driver cannot change a volume's options")
        if not options:
            raise InvalidArgument("say what to change: --opt KEY=VALUE", field="options")
        async with self._lock(driver.name, name):
            info = await driver.update(name, dict(options))
        self.events.publish("volume", "update", name, {"driver": driver.name})
        return info

    async def prune(
        self,
        *,
        all: bool = True,
        labels: Sequence[str] = (),
        not_labels: Sequence[str] = (),
    ) -> builtins.list[str]:
        """Remove the volumes no container uses; their names.

        Without ``all`` only anonymous ones (docker's API from 1.42 on; before,
        and here by default, named ones too). Only volumes with the ``labels``
        and without the ``not_labels`` (``key`` or ``key=value``) are considered.
        """
        deleted = []
        for driver in self._drivers():
            for info in await driver.list():
                if not prunable(info, all=all, labels=labels, not_labels=not_labels):
                    continue
                async with self._lock(driver.name, info.name):
                    if info.name in self.in_use():
                        continue
                    try:
                        await driver.remove(info.name)
                    except (Conflict, NoSuchObject):
                        continue
                deleted.append(info.name)
                self.events.publish("volume", "destroy", info.name, {"driver": driver.name})
        return deleted

    # -- containers' use of volumes ------------------------------------------------

    async def publish_all(self, container: Container, undo: Undo) -> builtins.list[oci.Mount]:
        """Stage and publish every volume mount of ``container``; the mounts to make."""
        mounts = []
        for mount in container.config.mounts:
            if mount.type != "volume":
                continue
            driver = await self._driver_of(mount.source, mount.driver)
            name = mount.source or secrets.token_hex(32)
            undo.push(f"volume {name}", _bound(self.release, driver.name, name, container.id))
            labels = {} if mount.source else {ANONYMOUS_LABEL: ""}
            published = await self._publish(driver, name, container.id, mount.read_only, labels)
            container.volumes.append((driver.name, name))
            mounts.append(
                oci.Mount(
                    destination=mount.target,
                    type=published.type,
                    source=published.source,
                    options=[*published.options, *mount.options],
                )
            )
        return mounts

    async def _driver_of(self, name: str, driver: str) -> VolumeDriver:
        """The driver named, else the one that has volume ``name``, else the default (docker's)."""
        if driver or not name:
            return self.kernel.volumes.get(driver or self.config.default_volume_driver)
        try:
            return (await self.find(name))[0]
        except NoSuchObject:
            return self.kernel.volumes.get(self.config.default_volume_driver)

    async def _publish(
        self,
        driver: VolumeDriver,
        name: str,
        container_id: str,
        read_only: bool,
        labels: dict[str, str],
    ) -> Mount:
        async with self._lock(driver.name, name):
            try:
                info = await driver.get(name)
            except NoSuchObject:
                info = await driver.create(name, {}, labels)
                self.events.publish("volume", "create", name, {"driver": driver.name})
            record = self.stages.get(driver.name, name) or StageRecord(
                driver=driver.name, name=name
            )
            if container_id not in record.users:
                record.users.append(container_id)
            self.stages.put(record)  # recorded before the driver acts
            if record.staged is None:
                record.staged = await driver.stage(info)
                self.stages.put(record)
            return await driver.publish(record.staged, container_id, read_only=read_only)

    async def release(self, driver_name: str, name: str, container_id: str) -> None:
        """Unpublish ``name`` from one container; unstage it when nobody else uses it."""
        driver = self.kernel.volumes.get(driver_name)
        async with self._lock(driver_name, name):
            record = self.stages.get(driver_name, name)
            if record is None:  # staged before staging was recorded
                others = [c for c in self.records.all() if c.id != container_id]
                users = [c.id for c in others if (driver_name, name) in _pairs(c)]
                record = StageRecord(driver=driver_name, name=name, users=[container_id, *users])
                try:
                    record.staged = await driver.stage(await driver.get(name))
                except NoSuchObject:
                    return
            staged = record.staged or StagedVolume(name=name, driver=driver_name)
            if record.staged is not None:
                await driver.unpublish(staged, container_id)
            if container_id in record.users:
                record.users.remove(container_id)
            if record.users:
                self.stages.put(record)
                return
            await driver.unstage(staged)
            self.stages.delete(driver_name, name)

    async def release_all(self, container: Container, *, remove_anonymous: bool) -> None:
        """Release every volume of a removed container; ``rm -v`` also deletes anonymous ones."""
        named = {m.source for m in container.config.mounts if m.source}
        for driver_name, name in container.volumes:
            try:
                await self.release(driver_name, name, container.id)
                if remove_anonymous and name not in named:
                    await self.kernel.volumes.get(driver_name).remove(name)
                    self.events.publish("volume", "destroy", name, {"driver": driver_name})
            except Exception:
                log.exception("container %s: releasing volume %s failed", container.short_id, name)

    async def reconcile(self) -> None:
        """Finish what a crash left: publications to containers that no longer exist."""
        live = {c.id for c in self.records.all()}
        for record in self.stages.all():
            if record.driver not in self.kernel.volumes:
                continue
            for user in [u for u in record.users if u not in live]:
                try:
                    await self.release(record.driver, record.name, user)
                except Exception:
                    log.exception("volume %s: releasing it for %s failed", record.name, user[:12])


def _pairs(container: Container) -> builtins.list[tuple[str, str]]:
    return [(d, n) for d, n in container.volumes]


def _volume_names(container: Container) -> set[str]:
    names = {n for _, n in container.volumes}
    names.update(m.source for m in container.config.mounts if m.type == "volume" and m.source)
    return names


def _bound(func: Callable[..., Awaitable[None]], *args: str) -> Callable[[], Awaitable[None]]:
    async def step() -> None:
        await func(*args)

    return step


def prunable(
    info: VolumeInfo,
    *,
    all: bool = True,
    labels: Sequence[str] = (),
    not_labels: Sequence[str] = (),
) -> bool:
    """Whether a prune with these filters takes ``info`` (if no container uses it)."""
    if not all and ANONYMOUS_LABEL not in info.labels:
        return False
    return prune_selects(info.created_at, info.labels, labels=labels, not_labels=not_labels)


def _check_filters(filters: dict[str, builtins.list[str]], allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter {key!r}", field="filters")


def _matches(info: VolumeInfo, filters: dict[str, builtins.list[str]], used: set[str]) -> bool:
    if "name" in filters and not any(v in info.name for v in filters["name"]):
        return False
    if "driver" in filters and info.driver not in filters["driver"]:
        return False
    if not all(has_label(info.labels, spec) for spec in filters.get("label", [])):
        return False
    for value in filters.get("dangling", []):
        dangling = value.lower() in ("true", "1")
        if dangling == (info.name in used):
            return False
    return True
