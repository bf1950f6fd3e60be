"""The ``csi`` volume driver: pouch's volumes made, staged and published by CSI drivers.

``create`` asks the named driver's Controller for a volume (``CreateVolume``,
idempotent by name) unless ``volume-id`` names one it has; ``stage`` runs
``ControllerPublishVolume`` when the driver publishes and ``NodeStageVolume``
when it stages, on ``<run root>/csi/volumes/<name>/staging``; ``publish``
runs ``NodePublishVolume`` on ``…/publish/<container>`` and hands the engine
a bind mount of it; the way back is ``NodeUnpublishVolume``,
``NodeUnstageVolume`` once the last container is gone, then
``ControllerUnpublishVolume``; ``remove`` ends with ``DeleteVolume``. Each
state is recorded before its call (``_records``; the calls are ``_steps``'). A
step back that fails — the driver is down or refuses — stays recorded as due
and is retried (``settle_all``, run by the plugin's janitor service, and
before the volume's next use), so a crashed driver or a killed pouchd leaves
nothing mounted or published for good. A lock per volume keeps the janitor
and the engine apart.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import anyio

from pouch.drivers import Capability, DriverInfo, Mount, StagedVolume, VolumeInfo
from pouch.errors import Conflict, InvalidArgument, NoSuchObject, NotSupported
from pouch.models import parse_size
from pouch_csi import _options
from pouch_csi._connections import Connections
from pouch_csi._deferred import pb
from pouch_csi._records import Record, Records
from pouch_csi._steps import Steps

__all__ = ["CsiVolumes"]

log = logging.getLogger("pouch.csi")


class CsiVolumes:
    name = "csi"

    def __init__(self, connections: Connections, records: Records, run_root: Path) -> None:
        self.connections = connections
        self.records = records
        self.steps = Steps(connections, records, run_root)
        self._locks: dict[str, anyio.Lock] = {}

    def describe(self) -> DriverInfo:
        drivers = self.connections.registry.drivers()
        return DriverInfo(
            name=self.name,
            version="csi v1",
            capabilities=[Capability.STAGE, Capability.READ_ONLY, Capability.UPDATE_VOLUME],
            details={"drivers": ", ".join(sorted(drivers)) or "none (pouch csi add)"},
        )

    def _lock(self, name: str) -> anyio.Lock:
        return self._locks.setdefault(name, anyio.Lock())

    def _record(self, name: str) -> Record:
        record = self.records.get(name)
        if record is None:
            raise NoSuchObject(f"no such volume: {name}")
        return record

    # -- volumes ---------------------------------------------------------------------

    async def create(
        self, name: str, options: dict[str, str], labels: dict[str, str]
    ) -> VolumeInfo:
        if not name or "/" in name or name.startswith("."):
            raise InvalidArgument(f"invalid volume name {name!r}", field="name")
        if not options.get("driver") and self.connections.registry.default():
            options = {**options, "driver": self.connections.registry.default()}
        wanted = _options.parse(name, options, labels)
        async with self._lock(name):
            record = self.records.get(name)
            if record is not None and not record.creating:
                return self._info(record)
            profile = await self.connections.profile(wanted.driver, fresh=True)
            if wanted.static:
                self.records.put(wanted)
                return self._info(wanted)
            if not profile.can("CREATE_DELETE_VOLUME"):
                raise InvalidArgument(
                    f"CSI driver {wanted.driver} cannot create volumes (it has no Controller"
                    " service): name one it has with --opt volume-id=ID",
                    field="options.volume-id",
                )
            wanted.creating = True
            self.records.put(wanted)  # before the call: a restart finishes it
            try:
                await self.steps.create(wanted, options)
            except BaseException:
                self.records.delete(name)
                raise
            return self._info(wanted)

    async def remove(self, name: str) -> None:
        async with self._lock(name):
            record = self._record(name)
            if record.settling:
                await self.steps.settle(record)
            if record.targets or record.staging or record.controller:
                raise Conflict(
                    f"volume {name} is still in use on this node"
                    + (f" ({record.pending}; pouch retries it)" if record.pending else "")
                )
            if record.volume_id and not record.static:
                await self.steps.call(
                    record,
                    "Controller",
                    "DeleteVolume",
                    volume_id=record.volume_id,
                    secrets=self.connections.secrets(record.driver),
                )
            self.records.delete(name)
            shutil.rmtree(self.steps.dir(name), ignore_errors=True)

    async def update(self, name: str, options: dict[str, str]) -> VolumeInfo:
        """Grow the volume to ``size`` (ControllerExpandVolume, then NodeExpandVolume)."""
        unknown = sorted(set(options) - {"size"})
        if unknown:
            raise InvalidArgument(
                "only the size of a CSI volume can change", field=f"options.{unknown[0]}"
            )
        try:
            size = parse_size(options["size"])
        except ValueError as exc:
            raise InvalidArgument(str(exc), field="options.size") from None
        async with self._lock(name):
            record = self._record(name)
            if size < record.capacity:
                raise InvalidArgument(
                    f"volume {name} has {record.capacity} bytes: CSI volumes grow, never shrink",
                    field="options.size",
                )
            profile = await self.connections.profile(record.driver, fresh=True)
            in_use = bool(record.staging or record.targets)
            if profile.can("EXPAND_VOLUME") and profile.expansion == "offline" and in_use:
                raise Conflict(
                    f"CSI driver {record.driver} grows volumes only while no container uses"
                    f" them: stop the containers that use {name} first"
                )
            if profile.controller and "EXPAND_VOLUME" in profile.controller_capabilities:
                response = await self.steps.call(
                    record,
                    "Controller",
                    "ControllerExpandVolume",
                    volume_id=record.volume_id,
                    capacity_range=pb.CapacityRange(required_bytes=size),
                    secrets=self.connections.secrets(record.driver),
                    volume_capability=_options.capability(record),
                )
                record.capacity = response.capacity_bytes or size
                record.node_expansion = bool(response.node_expansion_required)
            elif "EXPAND_VOLUME" in profile.node_capabilities:
                record.capacity, record.node_expansion = size, True
            else:
                raise NotSupported(f"CSI driver {record.driver} cannot grow volumes")
            record.options["size"] = options["size"]
            self.records.put(record)
            if in_use and record.node_expansion:
                await self.steps.expand_on_node(record)
            return self._info(record)

    async def get(self, name: str) -> VolumeInfo:
        record = self._record(name)
        info = self._info(record)
        if record.staging == "staged" or record.targets:
            info.status["usage"] = await self.steps.usage(record)
        return info

    async def list(self) -> list[VolumeInfo]:
        return [self._info(r) for r in self.records.all()]

    def _info(self, record: Record) -> VolumeInfo:
        # Strings, as docker's drivers report them: templates print them as they are.
        status: dict[str, Any] = {
            "csi_driver": record.driver,
            "volume_id": record.volume_id,
            "capacity_bytes": str(record.capacity),
            "access_mode": record.access_mode,
            "access_type": record.access_type,
        }
        for key, value in (
            ("volume_context", record.context),
            ("source", record.source),
            ("staged", record.staging),
            ("controller_published", record.controller),
            ("published_to", ",".join(sorted(record.targets))),
            ("pending", record.pending),
            ("creating", "yes" if record.creating else ""),
        ):
            if value:
                status[key] = value
        staged = record.staging == "staged"
        return VolumeInfo(
            name=record.name,
            driver=self.name,
            mountpoint=str(self.steps.staging(record.name)) if staged else "",
            created_at=record.created_at,
            labels=dict(record.labels),
            options=dict(record.options),
            status=status,
        )

    # -- staging and publishing ------------------------------------------------------

    async def stage(self, volume: VolumeInfo) -> StagedVolume:
        async with self._lock(volume.name):
            record = self._record(volume.name)
            if record.creating:
                raise Conflict(f"volume {record.name} is still being created")
            if record.settling:
                await self.steps.settle(record)
                if record.settling:
                    raise Conflict(f"volume {record.name} cannot be used yet: {record.pending}")
            profile = await self.connections.profile(record.driver)
            secrets = self.connections.secrets(record.driver)
            if profile.can("PUBLISH_UNPUBLISH_VOLUME") and record.controller != "published":
                record.controller = "publishing"
                self.records.put(record)
                response = await self.steps.call(
                    record,
                    "Controller",
                    "ControllerPublishVolume",
                    volume_id=record.volume_id,
                    node_id=profile.node_id,
                    volume_capability=_options.capability(record),
                    readonly=record.access_mode.endswith("READER_ONLY"),
                    secrets=secrets,
                    volume_context=record.context,
                )
                record.publish_context = dict(response.publish_context)
                record.controller = "published"
                self.records.put(record)
            staging = self.steps.staging(record.name)
            if profile.can("STAGE_UNSTAGE_VOLUME") and record.staging != "staged":
                staging.mkdir(parents=True, exist_ok=True)
                record.staging = "staging"
                self.records.put(record)
                await self.steps.call(
                    record,
                    "Node",
                    "NodeStageVolume",
                    volume_id=record.volume_id,
                    publish_context=record.publish_context,
                    staging_target_path=str(staging),
                    volume_capability=_options.capability(record),
                    secrets=secrets,
                    volume_context=record.context,
                )
                record.staging = "staged"
                self.records.put(record)
                await self.steps.expand_softly(record)
            return StagedVolume(
                name=record.name,
                driver=self.name,
                staging_path=str(staging) if record.staging else "",
                context=dict(record.publish_context),
            )

    async def publish(
        self, staged: StagedVolume, container_id: str, *, read_only: bool = False
    ) -> Mount:
        async with self._lock(staged.name):
            record = self._record(staged.name)
            target = self.steps.target(record.name, container_id)
            options = ["rbind", "ro" if read_only else "rw"]
            if record.targets.get(container_id) == "published":
                return Mount(type="bind", source=str(target), options=options)
            target.parent.mkdir(parents=True, exist_ok=True)
            record.targets[container_id] = "publishing"
            self.records.put(record)
            await self.steps.call(
                record,
                "Node",
                "NodePublishVolume",
                volume_id=record.volume_id,
                publish_context=record.publish_context,
                staging_target_path=str(self.steps.staging(record.name)) if record.staging else "",
                target_path=str(target),
                volume_capability=_options.capability(record),
                readonly=read_only,
                secrets=self.connections.secrets(record.driver),
                volume_context=record.context,
            )
            record.targets[container_id] = "published"
            self.records.put(record)
            await self.steps.expand_softly(record)
            return Mount(type="bind", source=str(target), options=options)

    async def unpublish(self, staged: StagedVolume, container_id: str) -> None:
        async with self._lock(staged.name):
            record = self.records.get(staged.name)
            if record is None or container_id not in record.targets:
                return
            record.targets[container_id] = "unpublishing"
            self.records.put(record)
            await self.steps.settle(record)

    async def unstage(self, staged: StagedVolume) -> None:
        async with self._lock(staged.name):
            record = self.records.get(staged.name)
            if record is None:
                return
            if record.staging:
                record.staging = "unstaging"
            if record.controller:
                record.controller = "unpublishing"
            self.records.put(record)
            await self.steps.settle(record)

    # -- the way back, retried until done -----------------------------------------

    async def settle_all(self) -> None:
        """Retry every step back that is due (the janitor's round), and unfinished creates."""
        for record in self.records.all():
            if not (record.settling or record.creating):
                continue
            async with self._lock(record.name):
                current = self.records.get(record.name)
                if current is None:
                    continue
                try:
                    if current.creating:
                        # A create a killed pouchd left: ask again (idempotent by name).
                        await self.steps.create(current, current.options)
                    else:
                        await self.steps.settle(current)
                except Exception as error:  # logged; the next round retries
                    log.warning("csi volume %s: %s", record.name, error)
