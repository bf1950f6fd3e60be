"""The hostdir driver's Identity and Controller services.

Each method takes the request message and returns the response, or raises
``Fail`` with the gRPC code the CSI specification prescribes for the case
(INVALID_ARGUMENT for a missing field, NOT_FOUND for an unknown ID,
ALREADY_EXISTS for a name reused with other parameters, OUT_OF_RANGE for a
capacity it cannot give). The gRPC plumbing is in ``_server``.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import grpc

from pouch_csi._pb import csi_pb2 as pb
from pouch_csi.hostdir._store import (
    SnapshotRecord,
    Store,
    StoreError,
    VolumeRecord,
    can_grow_online,
)

__all__ = ["Controller", "Fail", "Features", "Identity"]

NAME = "hostdir.csi.pouch.io"
VERSION = "0.1.0"
_Rpc = pb.ControllerServiceCapability.RPC
_MOUNT_MODES = {
    pb.VolumeCapability.AccessMode.SINGLE_NODE_WRITER,
    pb.VolumeCapability.AccessMode.SINGLE_NODE_READER_ONLY,
    pb.VolumeCapability.AccessMode.SINGLE_NODE_SINGLE_WRITER,
    pb.VolumeCapability.AccessMode.SINGLE_NODE_MULTI_WRITER,
}


class Fail(Exception):
    """An RPC's failure: its gRPC status code and a message for the caller."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Features:
    """What this instance offers; the flags turn parts off to stand for simpler drivers."""

    def __init__(self, *, controller: bool = True, stage: bool = True, publish: bool = False):
        self.controller = controller
        self.stage = stage
        self.publish = publish


def require(value: Any, field: str) -> None:
    if not value:
        raise Fail(grpc.StatusCode.INVALID_ARGUMENT, f"{field} is required")


def check_capabilities(capabilities: Any) -> None:
    """Refuse what a host directory cannot be: a block device, or shared between nodes."""
    for capability in capabilities:
        if capability.WhichOneof("access_type") == "block":
            raise Fail(
                grpc.StatusCode.INVALID_ARGUMENT,
                "hostdir volumes are directories: block access is not supported",
            )
        if capability.access_mode.mode not in _MOUNT_MODES:
            mode = pb.VolumeCapability.AccessMode.Mode.Name(capability.access_mode.mode)
            raise Fail(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"access mode {mode} is not supported: hostdir volumes live on one node",
            )


class Identity:
    def __init__(self, features: Features) -> None:
        self.features = features

    async def GetPluginInfo(self, request: Any) -> Any:
        return pb.GetPluginInfoResponse(name=NAME, vendor_version=VERSION)

    async def GetPluginCapabilities(self, request: Any) -> Any:
        # Offline when ext4 images cannot grow mounted here (no CAP_SYS_RESOURCE).
        expansion = pb.PluginCapability.VolumeExpansion(
            type=pb.PluginCapability.VolumeExpansion.ONLINE
            if can_grow_online()
            else pb.PluginCapability.VolumeExpansion.OFFLINE
        )
        capabilities = [pb.PluginCapability(volume_expansion=expansion)]
        if self.features.controller:
            service = pb.PluginCapability.Service(
                type=pb.PluginCapability.Service.CONTROLLER_SERVICE
            )
            capabilities.append(pb.PluginCapability(service=service))
        return pb.GetPluginCapabilitiesResponse(capabilities=capabilities)

    async def Probe(self, request: Any) -> Any:
        response = pb.ProbeResponse()
        response.ready.value = True
        return response


def _volume(record: VolumeRecord) -> Any:
    volume = pb.Volume(
        volume_id=record.id,
        capacity_bytes=record.capacity,
        volume_context={"name": record.name, "backing": record.backing}
        | ({"fstype": record.fstype} if record.fstype else {"quota": record.quota}),
    )
    if record.source_snapshot:
        volume.content_source.snapshot.snapshot_id = record.source_snapshot
    elif record.source_volume:
        volume.content_source.volume.volume_id = record.source_volume
    return volume


def _snapshot(record: SnapshotRecord) -> Any:
    snapshot = pb.Snapshot(
        snapshot_id=record.id,
        source_volume_id=record.source_volume,
        size_bytes=record.size,
        ready_to_use=True,
    )
    snapshot.creation_time.FromNanoseconds(int(record.created_at * 1e9))
    return snapshot


def _page(items: list[Any], max_entries: int, token: str) -> tuple[list[Any], str]:
    try:
        start = int(token) if token else 0
    except ValueError:
        raise Fail(grpc.StatusCode.ABORTED, f"starting_token {token!r} is not valid") from None
    if start < 0 or start > len(items):
        raise Fail(grpc.StatusCode.ABORTED, f"starting_token {token!r} is not valid")
    end = len(items) if max_entries <= 0 else min(len(items), start + max_entries)
    return items[start:end], (str(end) if end < len(items) else "")


class Controller:
    def __init__(self, store: Store, features: Features, node_id: str) -> None:
        self.store = store
        self.features = features
        self.node_id = node_id

    def _find(self, volume_id: str) -> VolumeRecord:
        try:
            return self.store.volume(volume_id)
        except KeyError:
            raise Fail(grpc.StatusCode.NOT_FOUND, f"no volume {volume_id}") from None

    async def ControllerGetCapabilities(self, request: Any) -> Any:
        types = [
            _Rpc.CREATE_DELETE_VOLUME,
            _Rpc.LIST_VOLUMES,
            _Rpc.GET_CAPACITY,
            _Rpc.CREATE_DELETE_SNAPSHOT,
            _Rpc.LIST_SNAPSHOTS,
            _Rpc.CLONE_VOLUME,
            _Rpc.EXPAND_VOLUME,
        ]
        if self.features.publish:
            types += [_Rpc.PUBLISH_UNPUBLISH_VOLUME, _Rpc.PUBLISH_READONLY]
        capabilities = [pb.ControllerServiceCapability(rpc=_Rpc(type=t)) for t in types]
        return pb.ControllerGetCapabilitiesResponse(capabilities=capabilities)

    async def CreateVolume(self, request: Any) -> Any:
        require(request.name, "name")
        require(request.volume_capabilities, "volume_capabilities")
        check_capabilities(request.volume_capabilities)
        wanted, ceiling = request.capacity_range.required_bytes, request.capacity_range.limit_bytes
        if wanted < 0 or ceiling < 0 or (ceiling and wanted > ceiling):
            raise Fail(grpc.StatusCode.OUT_OF_RANGE, f"capacity range {wanted}..{ceiling}")
        capacity = wanted or ceiling
        parameters = dict(request.parameters)
        unknown = sorted(set(parameters) - {"backing"})
        if unknown:
            raise Fail(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unknown parameter(s) {', '.join(unknown)} (hostdir takes: backing)",
            )
        fstype = next(
            (c.mount.fs_type for c in request.volume_capabilities if c.HasField("mount")), ""
        )
        try:
            backing = self.store.choose_backing(parameters.get("backing", "auto"), capacity, fstype)
        except StoreError as error:
            raise Fail(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        existing = self.store.volume_by_name(request.name)
        if existing is not None:
            if (
                existing.parameters != parameters
                or existing.capacity < wanted
                or (ceiling and existing.capacity > ceiling)
            ):
                raise Fail(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"volume {request.name} exists with capacity {existing.capacity}"
                    f" and parameters {existing.parameters}",
                )
            return pb.CreateVolumeResponse(volume=_volume(existing))
        snapshot = clone = None
        source = request.volume_content_source
        if source.WhichOneof("type") == "snapshot":
            try:
                snapshot = self.store.snapshot(source.snapshot.snapshot_id)
            except KeyError:
                raise Fail(grpc.StatusCode.NOT_FOUND, "no source snapshot") from None
        elif source.WhichOneof("type") == "volume":
            clone = self._find(source.volume.volume_id)
        try:
            record = await anyio.to_thread.run_sync(
                lambda: self.store.create_volume(
                    request.name,
                    capacity,
                    parameters,
                    backing=backing,
                    fstype=fstype,
                    snapshot=snapshot,
                    clone_of=clone,
                )
            )
        except StoreError as error:
            raise Fail(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        return pb.CreateVolumeResponse(volume=_volume(record))

    async def DeleteVolume(self, request: Any) -> Any:
        require(request.volume_id, "volume_id")
        try:
            record = self.store.volume(request.volume_id)
        except KeyError:
            return pb.DeleteVolumeResponse()  # gone already: success, as the spec asks
        if record.published_nodes:
            raise Fail(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"volume {record.id} is published to {', '.join(record.published_nodes)}",
            )
        await anyio.to_thread.run_sync(self.store.delete_volume, record.id)
        return pb.DeleteVolumeResponse()

    async def ControllerPublishVolume(self, request: Any) -> Any:
        if not self.features.publish:
            raise Fail(grpc.StatusCode.UNIMPLEMENTED, "ControllerPublishVolume is not offered")
        require(request.volume_id, "volume_id")
        require(request.node_id, "node_id")
        require(request.HasField("volume_capability"), "volume_capability")
        check_capabilities([request.volume_capability])
        record = self._find(request.volume_id)
        if request.node_id != self.node_id:
            raise Fail(grpc.StatusCode.NOT_FOUND, f"no node {request.node_id}")
        if request.node_id not in record.published_nodes:
            record.published_nodes.append(request.node_id)
            self.store.save_volume(record)
        return pb.ControllerPublishVolumeResponse(publish_context={"published": "yes"})

    async def ControllerUnpublishVolume(self, request: Any) -> Any:
        if not self.features.publish:
            raise Fail(grpc.StatusCode.UNIMPLEMENTED, "ControllerUnpublishVolume is not offered")
        require(request.volume_id, "volume_id")
        try:
            record = self.store.volume(request.volume_id)
        except KeyError:
            return pb.ControllerUnpublishVolumeResponse()
        nodes = [request.node_id] if request.node_id else list(record.published_nodes)
        record.published_nodes = [n for n in record.published_nodes if n not in nodes]
        self.store.save_volume(record)
        return pb.ControllerUnpublishVolumeResponse()

    async def ValidateVolumeCapabilities(self, request: Any) -> Any:
        require(request.volume_id, "volume_id")
        require(request.volume_capabilities, "volume_capabilities")
        self._find(request.volume_id)
        try:
            check_capabilities(request.volume_capabilities)
        except Fail as refused:
            return pb.ValidateVolumeCapabilitiesResponse(message=refused.message)
        confirmed = pb.ValidateVolumeCapabilitiesResponse.Confirmed(
            volume_context=request.volume_context,
            volume_capabilities=request.volume_capabilities,
            parameters=request.parameters,
        )
        return pb.ValidateVolumeCapabilitiesResponse(confirmed=confirmed)

    async def ListVolumes(self, request: Any) -> Any:
        page, token = _page(self.store.volumes(), request.max_entries, request.starting_token)
        entries = [
            pb.ListVolumesResponse.Entry(
                volume=_volume(v),
                status=pb.ListVolumesResponse.VolumeStatus(published_node_ids=v.published_nodes),
            )
            for v in page
        ]
        return pb.ListVolumesResponse(entries=entries, next_token=token)

    async def GetCapacity(self, request: Any) -> Any:
        check_capabilities(request.volume_capabilities)
        stat = await anyio.to_thread.run_sync(os.statvfs, self.store.root)
        return pb.GetCapacityResponse(available_capacity=stat.f_bavail * stat.f_frsize)

    async def CreateSnapshot(self, request: Any) -> Any:
        require(request.name, "name")
        require(request.source_volume_id, "source_volume_id")
        existing = self.store.snapshot_by_name(request.name)
        if existing is not None:
            if existing.source_volume != request.source_volume_id:
                raise Fail(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"snapshot {request.name} exists of volume {existing.source_volume}",
                )
            return pb.CreateSnapshotResponse(snapshot=_snapshot(existing))
        volume = self._find(request.source_volume_id)
        record = await anyio.to_thread.run_sync(self.store.create_snapshot, request.name, volume)
        return pb.CreateSnapshotResponse(snapshot=_snapshot(record))

    async def DeleteSnapshot(self, request: Any) -> Any:
        require(request.snapshot_id, "snapshot_id")
        await anyio.to_thread.run_sync(self.store.delete_snapshot, request.snapshot_id)
        return pb.DeleteSnapshotResponse()

    async def ListSnapshots(self, request: Any) -> Any:
        snapshots = self.store.snapshots()
        if request.snapshot_id:
            snapshots = [s for s in snapshots if s.id == request.snapshot_id]
        if request.source_volume_id:
            snapshots = [s for s in snapshots if s.source_volume == request.source_volume_id]
        page, token = _page(snapshots, request.max_entries, request.starting_token)
        entries = [pb.ListSnapshotsResponse.Entry(snapshot=_snapshot(s)) for s in page]
        return pb.ListSnapshotsResponse(entries=entries, next_token=token)

    async def ControllerExpandVolume(self, request: Any) -> Any:
        require(request.volume_id, "volume_id")
        require(request.HasField("capacity_range"), "capacity_range")
        record = self._find(request.volume_id)
        wanted = request.capacity_range.required_bytes or request.capacity_range.limit_bytes
        if wanted > record.capacity:
            record = await anyio.to_thread.run_sync(self.store.expand, record, wanted)
        return pb.ControllerExpandVolumeResponse(
            capacity_bytes=record.capacity, node_expansion_required=record.backing == "image"
        )
