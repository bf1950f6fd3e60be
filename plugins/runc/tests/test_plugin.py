"""pouch-runc as a user sees it: discovered, its runtimes listed, or skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from pouch.config import EngineConfig
from pouch.kernel import Kernel, PluginStatus
from pouch.testing.plugins import fake_programs, load_plugin

NAME = "runc"


def load(tmp_path: Path) -> tuple[Kernel, PluginStatus]:
    return load_plugin(NAME, tmp_path)


@pytest.mark.binary("runc", "crun", "conmon")
def test_registers_runc_and_crun_when_installed(tmp_path: Path) -> None:
    kernel, status = load(tmp_path)
    assert status.state == "loaded", status
    assert status.module == "pouch_runc.plugin"
    assert sorted(status.provides) == ["runtime:crun", "runtime:runc"]
    runc = kernel.runtimes.get("runc").describe()
    assert runc.version and {"exec", "pause", "tty", "restore"} <= set(runc.capabilities)


@pytest.mark.binary("runc", "conmon")
def test_operators_add_runtimes_by_name(tmp_path: Path) -> None:
    config = EngineConfig(
        root=tmp_path / "root",
        run_root=tmp_path / "run",
        plugin={"runc": {"runtimes": {"runc-debug": {"path": "runc", "args": ["--debug"]}}}},
    )
    kernel = Kernel(config)
    kernel.load()
    runtime = kernel.runtimes.get("runc-debug")
    assert runtime.describe().details["binary"] == "runc"


@pytest.mark.binary("conmon")
def test_an_added_runtime_with_a_missing_binary_fails_the_plugin_by_name(tmp_path: Path) -> None:
    config = EngineConfig(
        root=tmp_path / "root",
        run_root=tmp_path / "run",
        plugin={"runc": {"runtimes": {"ghost": {"path": "/nonexistent/ghost-runtime"}}}},
    )
    kernel = Kernel(config)
    kernel.load()
    status = {s.name: s for s in kernel.plugins()}[NAME]
    assert status.state == "failed"
    assert "runtime 'ghost'" in status.reason and "not found" in status.reason


def test_names_the_missing_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", "conmon")))
    _, status = load(tmp_path)
    assert status.state == "skipped"
    assert "runc not found on PATH" in status.reason
    assert "install the Debian package runc" in status.reason


def test_names_the_missing_monitor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", "crun")))
    _, status = load(tmp_path)
    assert status.reason == "runc: conmon not found on PATH; install the Debian package conmon"


def test_stats_come_from_the_cores_cgroup_reader() -> None:
    """The reader tested on recorded v1 and v2 trees (tests/core/cgroups) is runc's too."""
    import pouch_runc.runtime

    import pouch.cgroups

    assert pouch_runc.runtime.read_stats is pouch.cgroups.read_stats
