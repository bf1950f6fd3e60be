"""pouch-cni as a user sees it: discovered, providing ``bridge``, or skipped saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from pouch_cni import BridgeDriver, plugin

from pouch.config import EngineConfig
from pouch.kernel import Kernel, PluginStatus

NAME = "cni"


def load(tmp_path: Path, **settings: object) -> tuple[Kernel, PluginStatus]:
    config = EngineConfig(
        root=tmp_path / "root", run_root=tmp_path / "run", plugin={"cni": dict(settings)}
    )
    kernel = Kernel(config)
    kernel.load()
    found = {status.name: status for status in kernel.plugins()}
    assert NAME in found, f"plugin {NAME!r} not discovered: is pouch-{NAME} installed?"
    return kernel, found[NAME]


@pytest.mark.skipif(plugin.host_problem() is not None, reason=str(plugin.host_problem()))
def test_provides_the_bridge_driver_with_the_netns_capability(tmp_path: Path) -> None:
    kernel, status = load(tmp_path)
    assert status.state == "loaded", status
    assert status.provides == ["network:bridge"]
    driver = kernel.networks.get("bridge")
    assert isinstance(driver, BridgeDriver)
    info = driver.describe()
    assert "netns" in info.capabilities
    # Everything pouch writes is under its own state root unless configured.
    assert info.details["conf_dir"] == str(tmp_path / "root" / "cni" / "net.d")


def test_skipped_naming_missing_cni_plugins_and_the_package(tmp_path: Path) -> None:
    partial = tmp_path / "cni"
    partial.mkdir()
    (partial / "bridge").write_text("")
    _, status = load(tmp_path, plugin_dirs=[str(partial)])
    assert status.state == "skipped"
    assert status.reason.startswith("cni: CNI plugins (portmap, firewall, host-local)")
    assert f"not found in {partial}" in status.reason
    assert "install the Debian package containernetworking-plugins" in status.reason


def test_default_directories_can_be_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugin, "CNI_BIN_DIRS", (tmp_path / "nowhere",))
    _, status = load(tmp_path)
    assert status.state == "skipped"
    assert "not found in" in status.reason


def test_a_bad_setting_fails_the_plugin_naming_it(tmp_path: Path) -> None:
    _, status = load(tmp_path, default_subnett="10.0.0.0/8")
    assert status.state == "failed"
    assert "default_subnett" in status.reason


def test_a_cache_entry_a_crash_left_half_written_is_swept(tmp_path: Path) -> None:
    from pouch_cni._cache import AttachmentCache
    from pouch_cni._types import CacheEntry

    cache = AttachmentCache(tmp_path / "cache")
    cache.put(CacheEntry(containerId="c1", ifName="eth0", networkName="net", config={}))
    partial = tmp_path / "cache" / ".net-c2-eth0.tmp"
    partial.write_bytes(b'{"containerId": "c2"')  # killed before the rename
    assert cache.sweep_partial() == 1
    assert not partial.exists()
    assert [e.containerId for e in cache.all()] == ["c1"]
