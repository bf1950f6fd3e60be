"""``pouch-csi-hostdir`` against the CSI specification, over real gRPC: what any CO relies on.

The checks of the CSI sanity suite that pouch's client depends on: Identity
answers; missing fields are INVALID_ARGUMENT; CreateVolume is idempotent by
name and ALREADY_EXISTS for the name with an incompatible size; unknown IDs
are NOT_FOUND, except in DeleteVolume and the Unpublish/Unstage calls, which
succeed for what is gone; stage, publish and their reverses are idempotent
and really mount; a size holds (ENOSPC); snapshots restore, clones copy,
expansion grows the mounted filesystem; lists page.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from pouch_csi._pb import csi_pb2 as pb
from pouch_csi.client import CsiClient, CsiError
from pouch_csi.testing import HostdirDriver, unmount_under

from pouch.mounts import mounted_at

pytestmark = [pytest.mark.anyio, pytest.mark.root]

MIB = 1 << 20
MOUNT = pb.VolumeCapability(
    mount=pb.VolumeCapability.MountVolume(),
    access_mode=pb.VolumeCapability.AccessMode(
        mode=pb.VolumeCapability.AccessMode.SINGLE_NODE_WRITER
    ),
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def csi(hostdir: HostdirDriver, tmp_path: Path) -> AsyncIterator[CsiClient]:
    client = CsiClient("hostdir", hostdir.endpoint, timeout=20)
    try:
        yield client
    finally:
        await client.close()
        unmount_under(tmp_path)  # what a failed test left staged or published


async def call(csi: CsiClient, service: str, method: str, **fields: Any) -> Any:
    return await csi.call(service, method, getattr(pb, f"{method}Request")(**fields))


async def refused(csi: CsiClient, service: str, method: str, **fields: Any) -> grpc.StatusCode:
    with pytest.raises(CsiError) as failure:
        await call(csi, service, method, **fields)
    assert failure.value.code is not None
    return failure.value.code


async def create(csi: CsiClient, name: str, size: int = 0, **fields: Any) -> Any:
    response = await call(
        csi,
        "Controller",
        "CreateVolume",
        name=name,
        capacity_range=pb.CapacityRange(required_bytes=size),
        volume_capabilities=[MOUNT],
        **fields,
    )
    return response.volume


async def test_identity_names_the_driver_and_what_it_offers(csi: CsiClient) -> None:
    profile = await csi.probe()
    assert profile.plugin_name == "hostdir.csi.pouch.io" and profile.vendor_version
    assert profile.controller and profile.node_id
    assert {"CREATE_DELETE_VOLUME", "CREATE_DELETE_SNAPSHOT", "EXPAND_VOLUME"} <= set(
        profile.controller_capabilities
    )
    assert "STAGE_UNSTAGE_VOLUME" in profile.node_capabilities
    # ext4 grows mounted only with CAP_SYS_RESOURCE; without it expansion is offline.
    assert profile.expansion in ("online", "offline")


async def test_missing_fields_are_invalid_argument(csi: CsiClient) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert await refused(csi, "Controller", "CreateVolume", volume_capabilities=[MOUNT]) == invalid
    assert await refused(csi, "Controller", "CreateVolume", name="x") == invalid
    assert await refused(csi, "Controller", "DeleteVolume") == invalid
    assert await refused(csi, "Node", "NodeStageVolume", volume_id="x") == invalid
    assert await refused(csi, "Node", "NodePublishVolume", volume_id="x") == invalid
    assert await refused(csi, "Node", "NodeUnpublishVolume", target_path="/x") == invalid
    assert await refused(csi, "Controller", "CreateSnapshot", name="s") == invalid
    block = pb.VolumeCapability(
        block=pb.VolumeCapability.BlockVolume(), access_mode=MOUNT.access_mode
    )
    assert (
        await refused(csi, "Controller", "CreateVolume", name="b", volume_capabilities=[block])
        == invalid
    )
    bad = {"parameters": {"colour": "red"}}
    assert (
        await refused(
            csi, "Controller", "CreateVolume", name="p", volume_capabilities=[MOUNT], **bad
        )
        == invalid
    )


async def test_create_is_idempotent_by_name_and_refuses_an_incompatible_size(
    csi: CsiClient,
) -> None:
    first = await create(csi, "same", 8 * MIB)
    again = await create(csi, "same", 8 * MIB)
    assert first.volume_id == again.volume_id and first.capacity_bytes == 8 * MIB
    assert (
        await refused(
            csi,
            "Controller",
            "CreateVolume",
            name="same",
            capacity_range=pb.CapacityRange(required_bytes=16 * MIB),
            volume_capabilities=[MOUNT],
        )
        == grpc.StatusCode.ALREADY_EXISTS
    )
    await call(csi, "Controller", "DeleteVolume", volume_id=first.volume_id)
    await call(csi, "Controller", "DeleteVolume", volume_id=first.volume_id)  # gone: still fine


async def test_unknown_ids_are_not_found(csi: CsiClient, tmp_path: Path) -> None:
    missing = grpc.StatusCode.NOT_FOUND
    staging = tmp_path / "staging"
    staging.mkdir()
    assert (
        await refused(
            csi,
            "Node",
            "NodeStageVolume",
            volume_id="vol-none",
            staging_target_path=str(staging),
            volume_capability=MOUNT,
        )
        == missing
    )
    assert (
        await refused(csi, "Controller", "CreateSnapshot", name="s", source_volume_id="vol-none")
        == missing
    )
    source = pb.VolumeContentSource(
        snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id="snap-none")
    )
    assert (
        await refused(
            csi,
            "Controller",
            "CreateVolume",
            name="from-none",
            volume_capabilities=[MOUNT],
            volume_content_source=source,
        )
        == missing
    )
    # The way back succeeds for what is not there.
    await call(
        csi, "Node", "NodeUnpublishVolume", volume_id="vol-none", target_path=str(tmp_path / "t")
    )
    await call(
        csi, "Node", "NodeUnstageVolume", volume_id="vol-none", staging_target_path=str(staging)
    )


async def test_stage_and_publish_mount_and_repeat_and_undo_safely(
    csi: CsiClient, tmp_path: Path
) -> None:
    volume = await create(csi, "mounted", 8 * MIB)
    staging, target, reader = tmp_path / "staging", tmp_path / "target", tmp_path / "reader"
    staging.mkdir()
    common = {"volume_id": volume.volume_id, "volume_capability": MOUNT}
    for _ in range(2):
        await call(csi, "Node", "NodeStageVolume", staging_target_path=str(staging), **common)
        for path, read_only in ((target, False), (reader, True)):
            await call(
                csi,
                "Node",
                "NodePublishVolume",
                staging_target_path=str(staging),
                target_path=str(path),
                readonly=read_only,
                **common,
            )
    assert mounted_at(staging) and mounted_at(target) and mounted_at(reader)
    (target / "file").write_text("data")
    assert (reader / "file").read_text() == "data"
    with pytest.raises(OSError) as read_only:
        (reader / "other").write_text("no")
    assert read_only.value.errno == errno.EROFS
    for _ in range(2):
        for path in (target, reader):
            await call(
                csi,
                "Node",
                "NodeUnpublishVolume",
                volume_id=volume.volume_id,
                target_path=str(path),
            )
        await call(
            csi,
            "Node",
            "NodeUnstageVolume",
            volume_id=volume.volume_id,
            staging_target_path=str(staging),
        )
    assert not mounted_at(staging) and not target.exists() and not reader.exists()
    await call(csi, "Controller", "DeleteVolume", volume_id=volume.volume_id)


async def test_a_sized_volume_fills_up_and_its_stats_say_so(csi: CsiClient, tmp_path: Path) -> None:
    volume = await create(csi, "small", 8 * MIB)
    staging = tmp_path / "staging"
    staging.mkdir()
    common = {"volume_id": volume.volume_id, "volume_capability": MOUNT}
    await call(csi, "Node", "NodeStageVolume", staging_target_path=str(staging), **common)
    try:
        with pytest.raises(OSError) as full, (staging / "big").open("wb") as big:
            for _ in range(16):
                big.write(b"\0" * MIB)
                big.flush()
                os.fsync(big.fileno())
        assert full.value.errno in (errno.ENOSPC, errno.EDQUOT)
        stats = await call(
            csi, "Node", "NodeGetVolumeStats", volume_id=volume.volume_id, volume_path=str(staging)
        )
        usage = {u.unit: u for u in stats.usage}
        assert 0 < usage[pb.VolumeUsage.BYTES].total <= 8 * MIB
        assert usage[pb.VolumeUsage.BYTES].available < MIB
    finally:
        await call(
            csi,
            "Node",
            "NodeUnstageVolume",
            volume_id=volume.volume_id,
            staging_target_path=str(staging),
        )
        await call(csi, "Controller", "DeleteVolume", volume_id=volume.volume_id)


async def test_snapshots_restore_clones_copy_and_expansion_grows(
    csi: CsiClient, tmp_path: Path
) -> None:
    volume = await create(csi, "origin", 8 * MIB)
    staging = tmp_path / "staging"
    staging.mkdir()
    common = {"volume_id": volume.volume_id, "volume_capability": MOUNT}
    await call(csi, "Node", "NodeStageVolume", staging_target_path=str(staging), **common)
    (staging / "file").write_text("before")
    snapshot = (
        await call(
            csi, "Controller", "CreateSnapshot", name="snap", source_volume_id=volume.volume_id
        )
    ).snapshot
    assert snapshot.ready_to_use and snapshot.source_volume_id == volume.volume_id
    again = (
        await call(
            csi, "Controller", "CreateSnapshot", name="snap", source_volume_id=volume.volume_id
        )
    ).snapshot
    assert again.snapshot_id == snapshot.snapshot_id
    (staging / "file").write_text("after")

    online = (await csi.probe()).expansion == "online"
    if not online:  # offline expansion: the CO unstages first
        await call(
            csi,
            "Node",
            "NodeUnstageVolume",
            volume_id=volume.volume_id,
            staging_target_path=str(staging),
        )
    expanded = await call(
        csi,
        "Controller",
        "ControllerExpandVolume",
        volume_id=volume.volume_id,
        capacity_range=pb.CapacityRange(required_bytes=32 * MIB),
    )
    assert expanded.capacity_bytes == 32 * MIB
    if online and expanded.node_expansion_required:
        await call(
            csi, "Node", "NodeExpandVolume", volume_id=volume.volume_id, volume_path=str(staging)
        )
    if not online:
        await call(csi, "Node", "NodeStageVolume", staging_target_path=str(staging), **common)
    stat = os.statvfs(staging)
    assert stat.f_blocks * stat.f_frsize > 16 * MIB
    assert (staging / "file").read_text() == "after"

    restored_source = pb.VolumeContentSource(
        snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id=snapshot.snapshot_id)
    )
    restored = await create(csi, "restored", 8 * MIB, volume_content_source=restored_source)
    clone_source = pb.VolumeContentSource(
        volume=pb.VolumeContentSource.VolumeSource(volume_id=volume.volume_id)
    )
    clone = await create(csi, "clone", 8 * MIB, volume_content_source=clone_source)
    assert restored.content_source.snapshot.snapshot_id == snapshot.snapshot_id
    found = {}
    for name, made in (("restored", restored), ("clone", clone)):
        path = tmp_path / name
        path.mkdir()
        await call(
            csi,
            "Node",
            "NodeStageVolume",
            staging_target_path=str(path),
            volume_id=made.volume_id,
            volume_capability=MOUNT,
        )
        found[name] = (path / "file").read_text()
        await call(
            csi,
            "Node",
            "NodeUnstageVolume",
            volume_id=made.volume_id,
            staging_target_path=str(path),
        )
        await call(csi, "Controller", "DeleteVolume", volume_id=made.volume_id)
    assert found == {"restored": "before", "clone": "after"}

    listed = await call(csi, "Controller", "ListSnapshots", source_volume_id=volume.volume_id)
    assert [e.snapshot.snapshot_id for e in listed.entries] == [snapshot.snapshot_id]
    await call(csi, "Controller", "DeleteSnapshot", snapshot_id=snapshot.snapshot_id)
    await call(csi, "Controller", "DeleteSnapshot", snapshot_id=snapshot.snapshot_id)
    assert not (await call(csi, "Controller", "ListSnapshots")).entries
    await call(
        csi,
        "Node",
        "NodeUnstageVolume",
        volume_id=volume.volume_id,
        staging_target_path=str(staging),
    )
    await call(csi, "Controller", "DeleteVolume", volume_id=volume.volume_id)


async def test_lists_page_with_tokens(csi: CsiClient) -> None:
    made = [await create(csi, f"page-{i}") for i in range(5)]
    seen, token = [], ""
    for _ in range(5):
        page = await call(csi, "Controller", "ListVolumes", max_entries=2, starting_token=token)
        assert len(page.entries) <= 2
        seen += [e.volume.volume_id for e in page.entries]
        token = page.next_token
        if not token:
            break
    assert sorted(seen) == sorted(v.volume_id for v in made)
    assert (
        await refused(csi, "Controller", "ListVolumes", starting_token="nonsense")
        == grpc.StatusCode.ABORTED
    )
    for volume in made:
        await call(csi, "Controller", "DeleteVolume", volume_id=volume.volume_id)


@pytest.mark.parametrize("fstype", ["ext4", "xfs"])
async def test_a_directory_volume_is_sized_by_project_quota(fstype: str, tmp_path: Path) -> None:
    from pouch_csi.testing import running_hostdir

    from pouch.testing.quota import prjquota_filesystem

    with prjquota_filesystem(fstype) as mount, running_hostdir(mount / "hostdir") as driver:
        client = CsiClient("hostdir", driver.endpoint, timeout=20)
        try:
            volume = await create(client, "quota", 8 * MIB, parameters={"backing": "directory"})
            assert volume.volume_context["backing"] == "directory"
            assert volume.volume_context["quota"] == "project"
            staging = tmp_path / "staging"
            staging.mkdir()
            await call(client, "Node", "NodeStageVolume", volume_id=volume.volume_id,
                       staging_target_path=str(staging), volume_capability=MOUNT)  # fmt: skip
            try:
                with pytest.raises(OSError) as full, (staging / "big").open("wb") as big:
                    for _ in range(16):
                        big.write(b"\0" * MIB)
                        big.flush()
                assert full.value.errno in (errno.ENOSPC, errno.EDQUOT)
            finally:
                await call(client, "Node", "NodeUnstageVolume", volume_id=volume.volume_id,
                           staging_target_path=str(staging))  # fmt: skip
            await call(client, "Controller", "DeleteVolume", volume_id=volume.volume_id)
        finally:
            await client.close()
            unmount_under(tmp_path)
