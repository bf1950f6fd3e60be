"""pouch-lxc as a user sees it: installed, discovered, and listed as skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from pouch.config import EngineConfig
from pouch.kernel import Kernel, PluginStatus

NAME = "lxc"


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
    assert status.module == "pouch_lxc.plugin"
    assert not status.provides
    assert not kernel.pm.has_plugin(NAME)
    assert NAME not in kernel.runtimes


def fake_programs(directory: Path, *names: str) -> Path:
    """Put executables named ``names`` in ``directory`` (they are never run)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        program = directory / name
        program.write_text("#!/bin/sh\nexit 1\n")
        program.chmod(0o755)
    return directory


def test_names_the_missing_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", "lxc-start", "lxc-info")))
    _, status = load(tmp_path)
    assert status.state == "skipped"
    assert status.reason == (
        "lxc: lxc-attach, lxc-stop not found on PATH; install the Debian package lxc"
    )


def test_skips_even_when_the_host_has_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = ("lxc-start", "lxc-attach", "lxc-stop", "lxc-info")
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", *tools)))
    kernel, status = load(tmp_path)
    assert status.reason == "lxc: not implemented yet"
    assert NAME not in kernel.runtimes
