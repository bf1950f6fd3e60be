"""pouch-isolation as a user sees it: discovered, or skipped saying what to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from pouch.testing.plugins import fake_programs, load_plugin


@pytest.mark.binary("lxcfs")
def test_lxcfs_loads_and_says_so_in_info(tmp_path: Path) -> None:
    kernel, status = load_plugin("lxcfs", tmp_path)
    assert status.state == "loaded", status
    assert status.provides == ["service:lxcfs"]
    found = kernel.call("pouch_security_options", config=kernel.config)
    assert ["name=lxcfs"] in found


def test_lxcfs_skips_without_the_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin")))
    kernel, status = load_plugin("lxcfs", tmp_path)
    assert status.state == "skipped"
    assert status.reason == "lxcfs not found on PATH; install the Debian package lxcfs"
    found = kernel.call("pouch_security_options", config=kernel.config)
    assert ["name=lxcfs"] not in found
