"""pouch-cni as a user sees it: installed, discovered, and listed as skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pouch_cni import plugin

from pouch.config import EngineConfig
from pouch.kernel import Kernel, PluginStatus

NAME = "cni"


def load(tmp_path: Path) -> tuple[Kernel, PluginStatus]:
    kernel = Kernel(EngineConfig(root=tmp_path / "root", run_root=tmp_path / "run"))
    kernel.load()
    found = {status.name: status for status in kernel.plugins()}
    assert NAME in found, f"plugin {NAME!r} not discovered: is pouch-{NAME} installed?"
    return kernel, found[NAME]


def test_listed_as_skipped_with_a_reason(tmp_path: Path) -> None:
    kernel, status = load(tmp_path)
    assert status.state == "skipped", status
    assert status.reason.startswith(f"{NAME}: ")
    assert status.module == "pouch_cni.plugin"
    assert not status.provides
    assert not kernel.pm.has_plugin(NAME)
    assert "cni" not in kernel.networks.names()


def test_names_missing_cni_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "CNI_BIN_DIRS", (tmp_path / "cni",))
    _, status = load(tmp_path)
    assert status.state == "skipped"
    assert "not found in" in status.reason
    assert "install the Debian package containernetworking-plugins" in status.reason


def test_skips_even_when_the_host_has_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "cni"
    bin_dir.mkdir()
    for name in plugin.REQUIRED_PLUGINS:
        (bin_dir / name).write_text("")
    monkeypatch.setattr(plugin, "CNI_BIN_DIRS", (tmp_path / "elsewhere", bin_dir))
    kernel, status = load(tmp_path)
    assert status.reason == "cni: not implemented yet"
    assert NAME not in kernel.networks.names()
