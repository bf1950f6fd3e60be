"""The volume conformance suite of ``pouch.testing``, run against ``csi`` with the hostdir driver.

The volumes are 16 MiB ext4 images, loop-mounted when staged: after every
test, nothing of them may stay mounted under the engine's run root or the
driver's root.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pouch_csi.testing import HostdirDriver, unmount_under

from pouch.config import EngineConfig
from pouch.testing.conformance import VolumeDriverConformance

from .conftest import csi_settings

pytest.importorskip("pouch_runc", reason="the conformance suite needs pouch-runc installed")


class TestCsi(VolumeDriverConformance):
    driver = "csi"
    bad_option_field = "options.kit-no-such-option"

    def volume_options(self) -> dict[str, str]:
        return {"driver": "hostdir", "size": "16MiB"}

    @pytest.fixture
    def pouch_config(self, tmp_path: Path, hostdir: HostdirDriver) -> Iterator[EngineConfig]:
        run_root = Path(tempfile.mkdtemp(prefix="pouch-", dir="/tmp"))
        try:
            yield EngineConfig(
                root=tmp_path / "root",
                run_root=run_root,
                default_runtime=self.runtime,
                default_network="none",
                plugin={"csi": csi_settings(hostdir)},
            )
            left = unmount_under(run_root, hostdir.root)
            assert not left, f"left mounted: {left}"
        finally:
            shutil.rmtree(run_root, ignore_errors=True)
