"""pouch-csi as a user sees it: installed, discovered, loaded with the ``csi`` volume driver."""

from __future__ import annotations

from pathlib import Path

from pouch.kernel import Kernel, PluginStatus
from pouch.testing.plugins import load_plugin

NAME = "csi"


def load(tmp_path: Path) -> tuple[Kernel, PluginStatus]:
    return load_plugin(NAME, tmp_path)


def test_loaded_with_the_csi_volume_driver_and_its_service(tmp_path: Path) -> None:
    kernel, status = load(tmp_path)
    assert status.state == "loaded", status
    assert status.module == "pouch_csi.plugin"
    assert "csi" in kernel.volumes.names()
    info = kernel.volumes.get("csi").describe()
    assert info.details["drivers"] == "none (pouch csi add)"
    assert {"stage", "read-only"} <= set(info.capabilities)


def test_a_driver_that_is_not_a_unix_socket_fails_the_plugin_naming_it(tmp_path: Path) -> None:
    kernel, status = load_plugin(NAME, tmp_path, drivers={"nfs": {"endpoint": "tcp://10.0.0.1:9"}})
    assert status.state == "failed", status
    assert "plugin.csi.drivers.nfs.endpoint" in status.reason
    assert "unix:///" in status.reason
    assert "csi" not in kernel.volumes.names()
