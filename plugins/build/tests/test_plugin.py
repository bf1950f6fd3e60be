"""pouch-build as a user sees it: discovered, providing the classic builder."""

from __future__ import annotations

from pathlib import Path

from pouch.testing.plugins import load_plugin


def test_the_classic_builder_is_registered(tmp_path: Path) -> None:
    kernel, status = load_plugin("build", tmp_path)
    assert status.state == "loaded", status
    assert status.provides == ["builder:classic"]
    assert kernel.builders.get("classic").describe().version == "0.1.0"
