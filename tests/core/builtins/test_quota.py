"""Disk quota: the project registry, the refusal where quota cannot be had, the limit where it can.

The limits themselves need a kernel with project quota (CONFIG_QUOTA for ext4,
CONFIG_XFS_QUOTA for xfs) and a filesystem mounted with ``prjquota``: the last
tests make one on a loop device and skip, saying why, where the kernel refuses it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec
import pytest

from pouch import ContainerConfig
from pouch.builtins.volumes import LocalVolumes
from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.errors import InvalidArgument
from pouch.quota import Projects, QuotaError, backing_mount, limit, usage
from pouch.testing.plugin import import_busybox
from pouch.testing.process_runtime import ProcessRuntimePlugin
from pouch.testing.quota import prjquota_filesystem

MIB = 1024 * 1024


def test_projects_are_recorded_and_given_back(tmp_path: Path) -> None:
    projects = Projects(tmp_path / "quota" / "projects.json")
    first, second = projects.allocate("container:a"), projects.allocate("volume:b")
    assert second == first + 1 and projects.allocate("container:a") == first
    again = Projects(tmp_path / "quota" / "projects.json")  # a restarted engine
    assert again.get("volume:b") == second
    assert again.release("container:a") == first and again.get("container:a") is None


def _without_prjquota(path: Path) -> bool:
    mount = backing_mount(path)
    return not ({"prjquota", "pquota"} & mount.options)


def test_a_filesystem_without_prjquota_is_named(tmp_path: Path) -> None:
    if not _without_prjquota(tmp_path):
        pytest.skip("the test directory's filesystem has project quota")
    projects = Projects(tmp_path / "projects.json")
    with pytest.raises(QuotaError) as refused:
        limit(tmp_path, "container:x", 20 * MIB, projects, field="storage_opt.size")
    mount = backing_mount(tmp_path)
    message = str(refused.value)
    assert refused.value.field == "storage_opt.size" and mount.point in message
    assert "prjquota" in message
    assert projects.get("container:x") is None


@pytest.fixture
def config(tmp_path: Path) -> Iterator[EngineConfig]:
    run_root = Path(tempfile.mkdtemp(prefix="pouch-", dir="/tmp"))
    try:
        yield EngineConfig(root=tmp_path / "root", run_root=run_root, discover_plugins=False)
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


@pytest.mark.anyio
async def test_a_sized_container_or_volume_without_quota_is_refused_and_nothing_made(
    config: EngineConfig, busybox_rootfs: Path
) -> None:
    if not _without_prjquota(config.root.parent):
        pytest.skip("the test directory's filesystem has project quota")
    async with Engine(config, plugins=[("process", ProcessRuntimePlugin(config))]) as engine:
        await import_busybox(engine, busybox_rootfs)
        sized = msgspec.convert(
            {"image": "busybox", "cmd": ["true"], "storage_opt": {"size": "20m"}}, ContainerConfig
        )
        with pytest.raises(InvalidArgument) as refused:
            await engine.create(sized)
        assert refused.value.field == "storage_opt.size" and "prjquota" in str(refused.value)
        assert engine.list(all=True) == []
        snapshots = engine.images.store.snapshots
        assert [s.key for s in snapshots.list() if s.kind == "active"] == []
        with pytest.raises(InvalidArgument) as volume:
            await engine.volumes.create("sized", driver="local", options={"size": "5m"})
        assert volume.value.field == "options.size"
        assert [v.name for v in await engine.volumes.list()] == []
        assert not (config.root / "volumes" / "sized").exists()
        with pytest.raises(InvalidArgument, match="only the option size"):
            await engine.volumes.create("odd", driver="local", options={"color": "red"})


# -- where the kernel has project quota ----------------------------------------------


@pytest.fixture(params=["ext4", "xfs"])
def prjquota_mount(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A loop-mounted filesystem with project quota, or a skip saying why there is none."""
    with prjquota_filesystem(str(request.param)) as mount:
        yield mount


@pytest.mark.root
def test_a_limited_directory_fills_up(prjquota_mount: Path) -> None:
    directory = prjquota_mount / "limited"
    directory.mkdir()
    projects = Projects(prjquota_mount / "projects.json")
    project = limit(directory, "volume:v", 20 * MIB, projects, field="options.size")
    # ENOSPC as the issue of a full disk (ext4 may say EDQUOT for a project).
    full = "No space left|Disk quota exceeded"
    with pytest.raises(OSError, match=full), (directory / "big").open("wb") as big:
        for _ in range(30):
            big.write(b"\0" * MIB)
            big.flush()
    used, hard = usage(directory, project)
    assert hard == 20 * MIB and used <= hard
    # A sized local volume: the same through the driver, and given back on removal.
    volumes = LocalVolumes(prjquota_mount / "volumes", projects)
    info = anyio.run(volumes.create, "sized", {"size": "10m"}, {})
    with pytest.raises(OSError, match=full):
        (Path(info.mountpoint) / "big").write_bytes(b"\0" * 15 * MIB)
    anyio.run(volumes.remove, "sized")
    assert projects.get("volume:sized") is None


@pytest.mark.anyio
async def test_ids_a_killed_engine_left_are_given_back(config: EngineConfig) -> None:
    table = Projects(config.root / "quota" / "projects.json")
    table.allocate("container:" + "0" * 64)  # a container that no longer exists
    table.allocate("volume:gone")
    (config.root / "volumes" / "kept").mkdir(parents=True)
    table.allocate("volume:kept")
    async with Engine(config, plugins=[("process", ProcessRuntimePlugin(config))]):
        pass
    assert table.owners() == ["volume:kept"]
