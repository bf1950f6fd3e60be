"""The volume conformance suite of ``pouch.testing``, run against ``csi`` with the hostdir driver.

Three times: with a driver that stages (the usual shape), one that only
publishes (no STAGE_UNSTAGE_VOLUME: pouch must not stage), and one whose
controller publishes to the node first (ControllerPublishVolume before
staging). The volumes are 16 MiB ext4 images, loop-mounted: after every
test, nothing of them may stay mounted under the engine's run root or the
driver's root.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pouch_csi.testing import HostdirDriver, unmount_under

from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.mounts import mounted_at
from pouch.testing.conformance import VolumeDriverConformance

from .conftest import csi_settings

pytest.importorskip("pouch_runc", reason="the conformance suite needs pouch-runc installed")


@pytest.fixture
def pouch_config(
    tmp_path: Path, hostdir: HostdirDriver, pouch_runtime: str
) -> Iterator[EngineConfig]:
    run_root = Path(tempfile.mkdtemp(prefix="pouch-", dir="/tmp"))
    try:
        yield EngineConfig(
            root=tmp_path / "root",
            run_root=run_root,
            default_runtime=pouch_runtime,
            default_network="none",
            plugin={"csi": csi_settings(hostdir)},
        )
        left = unmount_under(run_root, hostdir.root)
        assert not left, f"left mounted: {left}"
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


class TestCsi(VolumeDriverConformance):
    driver = "csi"
    bad_option_field = "options.kit-no-such-option"

    def volume_options(self) -> dict[str, str]:
        return {"driver": "hostdir", "size": "16MiB"}


class TestCsiPublishOnly(VolumeDriverConformance):
    """A driver without NodeStageVolume: each container's NodePublishVolume mounts it."""

    driver = "csi"
    bad_option_field = "options.kit-no-such-option"
    hostdir_flags = ("--no-stage",)

    def volume_options(self) -> dict[str, str]:
        return {"driver": "hostdir", "size": "16MiB"}

    async def test_nothing_is_staged(self, engine: Engine) -> None:
        driver = self.volume_driver(engine)
        async with self.volume(driver) as info:
            staged = await driver.stage(info)
            assert staged.staging_path == ""
            assert "staged" not in (await driver.get(info.name)).status
            mount = await driver.publish(staged, "c" * 64)
            assert mounted_at(Path(mount.source))
            await driver.unpublish(staged, "c" * 64)
            await driver.unstage(staged)
            assert not Path(mount.source).exists()


class TestCsiControllerPublish(VolumeDriverConformance):
    """A driver whose controller publishes a volume to the node before it is staged."""

    driver = "csi"
    bad_option_field = "options.kit-no-such-option"
    hostdir_flags = ("--publish",)

    def volume_options(self) -> dict[str, str]:
        return {"driver": "hostdir", "size": "16MiB"}

    async def test_the_controller_publishes_first_and_unpublishes_last(
        self, engine: Engine, hostdir: HostdirDriver
    ) -> None:
        driver = self.volume_driver(engine)
        async with self.volume(driver) as info:
            volume_id = (await driver.get(info.name)).status["volume_id"]
            record = hostdir.root / "volumes" / volume_id / "volume.json"
            staged = await driver.stage(info)
            assert (await driver.get(info.name)).status["controller_published"] == "published"
            assert json.loads(record.read_text())["published_nodes"]
            await driver.unstage(staged)
            assert "controller_published" not in (await driver.get(info.name)).status
            assert not json.loads(record.read_text()).get("published_nodes")
