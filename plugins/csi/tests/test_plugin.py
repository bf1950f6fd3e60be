"""pouch-csi as a user sees it: installed, discovered, and listed as skipped with a reason."""

from __future__ import annotations

from pathlib import Path

from pouch.kernel import Kernel, PluginStatus
from pouch.testing.plugins import load_plugin

NAME = "csi"


def load(tmp_path: Path) -> tuple[Kernel, PluginStatus]:
    return load_plugin(NAME, tmp_path)


def test_listed_as_skipped_with_a_reason(tmp_path: Path) -> None:
    kernel, status = load(tmp_path)
    assert status.state == "skipped", status
    assert status.reason.startswith(f"{NAME}: ")
    assert status.module == "pouch_csi.plugin"
    assert not status.provides
    assert not kernel.pm.has_plugin(NAME)
    assert "csi" not in kernel.volumes.names()


def test_says_it_is_not_implemented(tmp_path: Path) -> None:
    _, status = load(tmp_path)
    assert status.reason == "csi: not implemented yet"
