"""pouch-lxc as a user sees it: discovered, its runtime listed, or skipped with a reason."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pouch_lxc.plugin import LXC_PROGRAMS, UTIL_PROGRAMS

from pouch.config import EngineConfig
from pouch.kernel import Kernel, PluginStatus

NAME = "lxc"


def load(tmp_path: Path, **settings: object) -> tuple[Kernel, PluginStatus]:
    config = EngineConfig(
        root=tmp_path / "root", run_root=tmp_path / "run", plugin={NAME: settings}
    )
    kernel = Kernel(config)
    kernel.load()
    found = {status.name: status for status in kernel.plugins()}
    assert NAME in found, f"plugin {NAME!r} not discovered: is pouch-{NAME} installed?"
    return kernel, found[NAME]


def fake_programs(directory: Path, *names: str) -> Path:
    """Put executables named ``names`` in ``directory`` (they are never run)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        program = directory / name
        program.write_text("#!/bin/sh\nexit 1\n")
        program.chmod(0o755)
    return directory


@pytest.mark.root
@pytest.mark.binary(*LXC_PROGRAMS, *UTIL_PROGRAMS)
def test_registers_the_lxc_runtime_when_installed(tmp_path: Path) -> None:
    kernel, status = load(tmp_path)
    assert status.state == "loaded", status
    assert status.module == "pouch_lxc.plugin"
    assert status.provides == ["runtime:lxc"]
    info = kernel.runtimes.get(NAME).describe()
    assert info.version and info.version[0].isdigit()
    expected = {
        "attach",
        "block-stats",
        "exec",
        "hooks",
        "log-rotation",
        "namespaces",
        "pause",
        "resources",
        "restore",
        "seccomp",
        "stats",
        "tty",
    }
    assert expected | {"update", "userns"} == set(info.capabilities)
    assert info.details["lxcpath"] == str(tmp_path / "run" / "lxc")  # never /var/lib/lxc


@pytest.mark.root
@pytest.mark.binary(*LXC_PROGRAMS, *UTIL_PROGRAMS)
def test_the_lxcpath_is_a_setting(tmp_path: Path) -> None:
    kernel, _ = load(tmp_path, lxcpath=str(tmp_path / "elsewhere"))
    assert kernel.runtimes.get(NAME).describe().details["lxcpath"] == str(tmp_path / "elsewhere")


def test_names_the_missing_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", "lxc-start", "lxc-info")))
    kernel, status = load(tmp_path)
    assert status.state == "skipped"
    assert status.reason == (
        "lxc: lxc-attach, lxc-stop, lxc-freeze, lxc-unfreeze, lxc-cgroup not found on PATH;"
        " install the Debian package lxc"
    )
    assert not status.provides
    assert NAME not in kernel.runtimes


def test_names_missing_util_linux_programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", *LXC_PROGRAMS)))
    _, status = load(tmp_path)
    assert status.reason == (
        "lxc: setsid, nsenter not found on PATH; install the Debian package util-linux"
    )


def test_skips_when_not_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", *LXC_PROGRAMS, *UTIL_PROGRAMS)))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    kernel, status = load(tmp_path)
    assert status.state == "skipped"
    assert status.reason == "lxc: needs root: the plugin runs privileged LXC containers only"
    assert NAME not in kernel.runtimes


@pytest.mark.skipif(shutil.which("lxc-start") is not None, reason="lxc is installed here")
def test_skipped_without_lxc(tmp_path: Path) -> None:
    _, status = load(tmp_path)
    assert status.state == "skipped" and "install the Debian package lxc" in status.reason


def test_cgroups_come_from_the_core() -> None:
    """The readers tested on recorded v1 and v2 trees (tests/core/cgroups) are lxc's too."""
    import pouch_lxc.runtime

    import pouch.cgroups

    assert pouch_lxc.runtime._cgroups is pouch.cgroups
