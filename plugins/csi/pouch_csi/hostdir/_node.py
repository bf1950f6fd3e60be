"""The hostdir driver's Node service: a volume's directory or image, mounted.

Staging mounts the volume on the staging path the CO made: a bind mount of a
directory volume's data, a loop mount of an image volume's filesystem.
Publishing binds the staging path on the target path, which this service
creates and removes, read-only when asked. With staging turned off a
directory is bound straight on the target, and an image is loop-mounted once
under ``<root>/mounts/`` and bound from there, unmounted with its last
target. Every call is idempotent: a path that already has the
mount is left as it is, a missing one is fine to unmount. ``crash_in`` makes
the process die in the middle of one method, after its mount: it stands for a
driver that crashes, in the tests of the clients.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import anyio
import grpc

from pouch.mounts import bind, mount_table, mounted_at, unmount
from pouch.quota import usage
from pouch_csi._pb import csi_pb2 as pb
from pouch_csi.hostdir._controller import Fail, Features, check_capabilities, require
from pouch_csi.hostdir._store import (
    Store,
    StoreError,
    VolumeRecord,
    can_grow_online,
    grow_offline,
    loop_mounts,
    run,
)

__all__ = ["Node"]

_Rpc = pb.NodeServiceCapability.RPC


class Node:
    def __init__(
        self,
        store: Store,
        features: Features,
        node_id: str,
        *,
        crash_in: str = "",
        delay_in: tuple[str, float] = ("", 0.0),
    ) -> None:
        self.store = store
        self.features = features
        self.node_id = node_id
        self.crash_in = crash_in
        self.delay_in = delay_in

    async def _fault_point(self, method: str) -> None:
        if self.crash_in == method:
            os._exit(70)
        if self.delay_in[0] == method:
            await anyio.sleep(self.delay_in[1])

    def _find(self, volume_id: str) -> VolumeRecord:
        try:
            return self.store.volume(volume_id)
        except KeyError:
            raise Fail(grpc.StatusCode.NOT_FOUND, f"no volume {volume_id}") from None

    def _attach(self, record: VolumeRecord, point: Path) -> None:
        """Mount the volume's data on ``point`` (a no-op when something is there)."""
        if mounted_at(point):
            return
        if record.backing == "directory":
            bind(self.store.data(record.id), point)
            return
        image = self.store.image(record.id)
        try:
            if record.needs_grow and record.fstype == "ext4":
                grow_offline(image, record.fstype)
            run("mount", "-t", record.fstype, "-o", "loop", str(image), str(point))
            if record.needs_grow and record.fstype == "xfs":
                run("xfs_growfs", str(point))
        except StoreError as error:
            raise Fail(grpc.StatusCode.INTERNAL, str(error)) from None
        if record.needs_grow:
            record.needs_grow = False
            self.store.save_volume(record)

    def _private(self, record: VolumeRecord) -> Path:
        """Where an image is mounted when the CO does not stage (publish-only mode)."""
        point = self.store.root / "mounts" / record.id
        point.mkdir(parents=True, exist_ok=True)
        self._attach(record, point)
        return point

    async def NodeGetInfo(self, request: Any) -> Any:
        return pb.NodeGetInfoResponse(node_id=self.node_id)

    async def NodeGetCapabilities(self, request: Any) -> Any:
        types = [_Rpc.GET_VOLUME_STATS, _Rpc.EXPAND_VOLUME]
        if self.features.stage:
            types.append(_Rpc.STAGE_UNSTAGE_VOLUME)
        capabilities = [pb.NodeServiceCapability(rpc=_Rpc(type=t)) for t in types]
        return pb.NodeGetCapabilitiesResponse(capabilities=capabilities)

    async def NodeStageVolume(self, request: Any) -> Any:
        if not self.features.stage:
            raise Fail(grpc.StatusCode.UNIMPLEMENTED, "NodeStageVolume is not offered")
        require(request.volume_id, "volume_id")
        require(request.staging_target_path, "staging_target_path")
        require(request.HasField("volume_capability"), "volume_capability")
        check_capabilities([request.volume_capability])
        record = self._find(request.volume_id)
        if self.features.publish and self.node_id not in record.published_nodes:
            raise Fail(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"volume {record.id} is not published to node {self.node_id}",
            )
        staging = Path(request.staging_target_path)
        if not staging.is_dir():
            raise Fail(grpc.StatusCode.INVALID_ARGUMENT, f"staging path {staging} is no directory")
        self._attach(record, staging)
        await self._fault_point("NodeStageVolume")
        return pb.NodeStageVolumeResponse()

    async def NodeUnstageVolume(self, request: Any) -> Any:
        if not self.features.stage:
            raise Fail(grpc.StatusCode.UNIMPLEMENTED, "NodeUnstageVolume is not offered")
        require(request.volume_id, "volume_id")
        require(request.staging_target_path, "staging_target_path")
        unmount(Path(request.staging_target_path))
        return pb.NodeUnstageVolumeResponse()

    async def NodePublishVolume(self, request: Any) -> Any:
        require(request.volume_id, "volume_id")
        require(request.target_path, "target_path")
        require(request.HasField("volume_capability"), "volume_capability")
        check_capabilities([request.volume_capability])
        record = self._find(request.volume_id)
        if self.features.stage:
            require(request.staging_target_path, "staging_target_path")
            source = Path(request.staging_target_path)
            if not mounted_at(source):
                raise Fail(grpc.StatusCode.FAILED_PRECONDITION, f"volume {record.id} is not staged")
        elif record.backing == "image":
            source = self._private(record)
        else:
            source = self.store.data(record.id)
        target = Path(request.target_path)
        target.mkdir(exist_ok=True)
        if not mounted_at(target):
            bind(source, target, read_only=request.readonly)
        if not self.features.stage and str(target) not in record.node_targets:
            record.node_targets.append(str(target))
            self.store.save_volume(record)
        await self._fault_point("NodePublishVolume")
        return pb.NodePublishVolumeResponse()

    async def NodeUnpublishVolume(self, request: Any) -> Any:
        require(request.volume_id, "volume_id")
        require(request.target_path, "target_path")
        target = Path(request.target_path)
        unmount(target)
        with contextlib.suppress(FileNotFoundError):
            target.rmdir()
        with contextlib.suppress(KeyError):
            record = self.store.volume(request.volume_id)
            if str(target) in record.node_targets:
                record.node_targets.remove(str(target))
                self.store.save_volume(record)
            if not record.node_targets and record.backing == "image" and not self.features.stage:
                unmount(self.store.root / "mounts" / record.id)
        return pb.NodeUnpublishVolumeResponse()

    async def NodeGetVolumeStats(self, request: Any) -> Any:
        require(request.volume_id, "volume_id")
        require(request.volume_path, "volume_path")
        record = self._find(request.volume_id)
        path = Path(request.volume_path)
        if not path.exists():
            raise Fail(grpc.StatusCode.NOT_FOUND, f"volume path {path} does not exist")
        stat = os.statvfs(path)
        total, available = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
        used = total - stat.f_bfree * stat.f_frsize
        project = self.store.projects.get(record.id)
        if record.quota == "project" and project is not None:
            used, total = usage(self.store.data(record.id), project)
            available = max(0, total - used)
        byte_usage = pb.VolumeUsage(
            unit=pb.VolumeUsage.BYTES, total=total, used=used, available=available
        )
        inode_usage = pb.VolumeUsage(
            unit=pb.VolumeUsage.INODES,
            total=stat.f_files,
            used=stat.f_files - stat.f_ffree,
            available=stat.f_favail,
        )
        return pb.NodeGetVolumeStatsResponse(usage=[byte_usage, inode_usage])

    async def NodeExpandVolume(self, request: Any) -> Any:
        require(request.volume_id, "volume_id")
        require(request.volume_path, "volume_path")
        record = self._find(request.volume_id)
        if record.backing == "image" and record.needs_grow:
            if record.fstype == "ext4" and not can_grow_online():
                raise Fail(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "ext4 grows while mounted only with CAP_SYS_RESOURCE, which this driver"
                    " lacks: the volume grows when it is next staged",
                )
            try:
                grow_online(self.store.image(record.id), record.fstype)
            except StoreError as error:
                raise Fail(grpc.StatusCode.INTERNAL, str(error)) from None
            record.needs_grow = False
            self.store.save_volume(record)
        return pb.NodeExpandVolumeResponse(capacity_bytes=record.capacity)


def grow_online(image: Path, fstype: str) -> None:
    """Grow the mounted filesystem of ``image`` to the file's (new) size."""
    points = loop_mounts(image)
    if not points:
        return  # not mounted: it grew offline (ext4) or grows at the next stage (xfs)
    device = next(e.source for e in mount_table() if e.point == points[0])
    run("losetup", "--set-capacity", device)
    if fstype == "xfs":
        run("xfs_growfs", points[0])
    else:
        run("resize2fs", device)
