"""The CSI calls behind each step of a volume's life, and the way back retried until done.

``Steps`` knows where a volume's staging and target paths are (under
``<run root>/csi/volumes/<name>/``), makes each call with the record of the
volume in hand, writes the outcome into the record, and takes back, in
order, what a record marks as due (``settle``): container publications, then
the stage, then the controller's publication. A failure on the way back is
written into the record (``pending``) rather than raised, so that the
engine's cleanup goes on and the janitor retries it. It holds no lock:
``CsiVolumes`` calls it under the volume's.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from pouch.errors import InvalidArgument
from pouch_csi import _options
from pouch_csi._connections import Connections
from pouch_csi._deferred import pb
from pouch_csi._records import Record, Records
from pouch_csi.client import CsiError

__all__ = ["Steps"]

log = logging.getLogger("pouch.csi")


class Steps:
    def __init__(self, connections: Connections, records: Records, run_root: Path) -> None:
        self.connections = connections
        self.records = records
        self.run_root = run_root

    def dir(self, name: str) -> Path:
        return self.run_root / "csi" / "volumes" / name

    def staging(self, name: str) -> Path:
        return self.dir(name) / "staging"

    def target(self, name: str, container_id: str) -> Path:
        return self.dir(name) / "publish" / container_id

    async def call(
        self, record: Record, service: str, method: str, *, timeout: float = 0, **fields: Any
    ) -> Any:
        """``method`` of the record's driver; ``timeout`` 0 is the driver's own."""
        client = self.connections.client(record.driver)
        request = getattr(pb, f"{method}Request")(**fields)
        try:
            return await client.call(service, method, request, timeout=timeout)
        except CsiError:
            self.connections.forget(record.driver)
            raise

    async def create(self, record: Record, options: dict[str, str]) -> None:
        """``CreateVolume`` for a record marked ``creating``; the record completed."""
        response = await self.call(
            record,
            "Controller",
            "CreateVolume",
            name=record.name,
            capacity_range=pb.CapacityRange(required_bytes=record.capacity),
            volume_capabilities=[_options.capability(record)],
            parameters=record.parameters,
            secrets=self.connections.secrets(record.driver),
            volume_content_source=await self._content_source(record, options),
        )
        record.volume_id = response.volume.volume_id
        record.capacity = response.volume.capacity_bytes or record.capacity
        record.context = dict(response.volume.volume_context)
        record.creating = False
        self.records.put(record)

    async def _content_source(self, record: Record, options: dict[str, str]) -> Any:
        if "from-snapshot" in options:
            record.source = "snapshot:" + options["from-snapshot"]
            snapshot = pb.VolumeContentSource.SnapshotSource(snapshot_id=options["from-snapshot"])
            return pb.VolumeContentSource(snapshot=snapshot)
        if "from-volume" in options:
            origin = self.records.get(options["from-volume"])
            if origin is None or origin.driver != record.driver:
                raise InvalidArgument(
                    f"no volume {options['from-volume']} of CSI driver {record.driver}",
                    field="options.from-volume",
                )
            record.source = "volume:" + origin.volume_id
            source = pb.VolumeContentSource.VolumeSource(volume_id=origin.volume_id)
            return pb.VolumeContentSource(volume=source)
        return None

    async def expand_on_node(self, record: Record) -> None:
        """NodeExpandVolume on the staged or a published path, when one was asked for."""
        if not record.node_expansion or not (record.staging == "staged" or record.targets):
            return
        published = [c for c, state in sorted(record.targets.items()) if state == "published"]
        path = self.target(record.name, published[0]) if published else self.staging(record.name)
        await self.call(
            record,
            "Node",
            "NodeExpandVolume",
            volume_id=record.volume_id,
            volume_path=str(path),
            capacity_range=pb.CapacityRange(required_bytes=record.capacity),
            staging_target_path=str(self.staging(record.name)) if record.staging else "",
            volume_capability=_options.capability(record),
        )
        record.node_expansion = False
        self.records.put(record)

    async def expand_softly(self, record: Record) -> None:
        """The node's part of an earlier expansion, now it can be done; a failure is said
        in the volume's status and leaves the volume usable at its old size."""
        try:
            await self.expand_on_node(record)
        except CsiError as error:
            record.pending = str(error)
            self.records.put(record)
            log.warning("csi volume %s: %s", record.name, error)

    async def usage(self, record: Record) -> dict[str, Any]:
        """NodeGetVolumeStats for inspect: asked briefly, as inspect must not hang on it."""
        with contextlib.suppress(CsiError):
            if not (await self.connections.profile(record.driver)).can("GET_VOLUME_STATS"):
                return {}
            path = (
                self.staging(record.name)
                if record.staging == "staged"
                else self.target(record.name, sorted(record.targets)[0])
            )
            stats = await self.call(
                record,
                "Node",
                "NodeGetVolumeStats",
                timeout=5,
                volume_id=record.volume_id,
                volume_path=str(path),
                staging_target_path=str(self.staging(record.name)) if record.staging else "",
            )
            unit = pb.VolumeUsage.Unit
            return {
                unit.Name(u.unit).lower(): {
                    "total": str(u.total),
                    "used": str(u.used),
                    "available": str(u.available),
                }
                for u in stats.usage
            }
        return {"error": "the driver did not answer NodeGetVolumeStats"}

    async def settle(self, record: Record) -> None:
        """Take back, in order, what is marked for it; record a failure and stop there."""
        try:
            for container_id, state in sorted(record.targets.items()):
                if state != "unpublishing":
                    continue
                target = self.target(record.name, container_id)
                await self.call(
                    record,
                    "Node",
                    "NodeUnpublishVolume",
                    volume_id=record.volume_id,
                    target_path=str(target),
                )
                with contextlib.suppress(OSError):
                    target.rmdir()
                del record.targets[container_id]
                self.records.put(record)
            if record.targets:
                return  # other containers still use it
            if record.staging == "unstaging":
                staging = self.staging(record.name)
                await self.call(
                    record,
                    "Node",
                    "NodeUnstageVolume",
                    volume_id=record.volume_id,
                    staging_target_path=str(staging),
                )
                with contextlib.suppress(OSError):
                    staging.rmdir()
                record.staging = ""
                self.records.put(record)
            if record.controller == "unpublishing":
                profile = await self.connections.profile(record.driver)
                await self.call(
                    record,
                    "Controller",
                    "ControllerUnpublishVolume",
                    volume_id=record.volume_id,
                    node_id=profile.node_id,
                    secrets=self.connections.secrets(record.driver),
                )
                record.controller = ""
                record.publish_context = {}
            record.pending = ""
            self.records.put(record)
        except CsiError as error:
            record.pending = str(error)
            self.records.put(record)
            log.warning("csi volume %s: %s; retried later", record.name, error)
