"""pouch-kata as a user sees it: installed, discovered, and listed as skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pouch_kata import plugin

from pouch.kernel import Kernel, PluginStatus
from pouch.testing.plugins import fake_programs, load_plugin

NAME = "kata"


def load(tmp_path: Path) -> tuple[Kernel, PluginStatus]:
    return load_plugin(NAME, tmp_path)


def test_listed_as_skipped_with_a_reason(tmp_path: Path) -> None:
    kernel, status = load(tmp_path)
    assert status.state == "skipped", status
    assert status.reason.startswith(f"{NAME}: ")
    assert status.module == "pouch_kata.plugin"
    assert not status.provides
    assert not kernel.pm.has_plugin(NAME)
    assert NAME not in kernel.runtimes


def test_names_a_missing_kvm_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "KVM_DEVICE", tmp_path / "kvm")
    _, status = load(tmp_path)
    assert status.state == "skipped"
    expected = f"{plugin.KVM_DEVICE} missing (no hardware virtualisation on this host)"
    assert status.reason == f"kata: {expected}"


def test_names_missing_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kvm = tmp_path / "kvm"
    kvm.touch()
    monkeypatch.setattr(plugin, "KVM_DEVICE", kvm)
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin")))
    program, package = plugin.qemu_program()
    _, status = load(tmp_path)
    assert status.reason == (
        f"kata: {program} not found on PATH; install the Debian package {package}"
    )


def test_skips_even_when_the_host_has_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kvm = tmp_path / "kvm"
    kvm.touch()
    monkeypatch.setattr(plugin, "KVM_DEVICE", kvm)
    program, _ = plugin.qemu_program()
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", program)))
    kernel, status = load(tmp_path)
    assert status.reason == "kata: not implemented yet"
    assert NAME not in kernel.runtimes


def test_knows_qemu_for_arm_machines() -> None:
    assert plugin.qemu_program("aarch64") == ("qemu-system-aarch64", "qemu-system-arm")
