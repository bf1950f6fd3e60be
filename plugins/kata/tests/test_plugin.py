"""pouch-kata as a user sees it: installed, discovered, listed as skipped with a precise reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import pytest
from pouch_kata import plugin
from pouch_kata._assets import FORMAT, Manifest

from pouch.kernel import Kernel, PluginStatus
from pouch.testing.plugins import fake_programs, load_plugin

NAME = "kata"


def load(tmp_path: Path, **settings: object) -> tuple[Kernel, PluginStatus]:
    return load_plugin(NAME, tmp_path, **settings)


@pytest.fixture
def with_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program, _ = plugin.qemu_program()
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin", program)))
    # The machine's assets (/var/lib/pouch) are not these tests' business.
    monkeypatch.setattr(plugin, "DEFAULT_ROOT", tmp_path / "machine")


def fake_assets(directory: Path, agent: str = "0" * 64) -> None:
    directory.mkdir(parents=True)
    (directory / "vmlinux").write_bytes(b"\x7fELF")
    (directory / "initramfs.cpio.gz").write_bytes(b"")
    manifest = Manifest(
        format=FORMAT,
        packages={},
        kernel_release="6.1.0-57-cloud-amd64",
        vmlinux_sha256=hashlib.sha256(b"\x7fELF").hexdigest(),
        initramfs_sha256=hashlib.sha256(b"").hexdigest(),
        modules=[],
        agent_sha256=agent,
    )
    (directory / "manifest.json").write_bytes(msgspec.json.encode(manifest))


def test_listed_as_skipped_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "DEFAULT_ROOT", tmp_path / "machine")  # no assets anywhere
    kernel, status = load(tmp_path)
    assert status.state == "skipped", status
    assert status.reason.startswith(f"{NAME}: ")
    assert status.module == "pouch_kata.plugin"
    assert not status.provides
    assert not kernel.pm.has_plugin(NAME)
    assert NAME not in kernel.runtimes


def test_names_missing_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_programs(tmp_path / "bin")))
    program, package = plugin.qemu_program()
    _, status = load(tmp_path)
    assert status.reason == (
        f"kata: {program} not found on PATH; install the Debian package {package}"
    )


@pytest.mark.usefixtures("with_qemu")
def test_missing_assets_name_the_command_to_run(tmp_path: Path) -> None:
    _, status = load(tmp_path)
    root = tmp_path / "root"
    assert status.reason == (
        f"kata: no guest assets in {root / 'kata' / 'assets'}; "
        f"run: pouch-kata assets build --root {root}"
    )


@pytest.mark.usefixtures("with_qemu")
def test_assets_without_an_agent_name_the_command_to_run(tmp_path: Path) -> None:
    fake_assets(tmp_path / "root" / "kata" / "assets", agent="")
    kernel, status = load(tmp_path, accel="tcg")
    assert status.state == "skipped"
    assert status.reason.endswith("have no agent; run: pouch-kata assets build "
                                  f"--root {tmp_path / 'root'} --force")  # fmt: skip
    assert NAME not in kernel.runtimes


@pytest.mark.usefixtures("with_qemu")
def test_with_everything_it_registers_kata_naming_kernel_and_accelerator(tmp_path: Path) -> None:
    fake_assets(tmp_path / "root" / "kata" / "assets")
    kernel, status = load(tmp_path, accel="tcg")
    assert status.state == "loaded", status
    info = kernel.runtimes.get(NAME).describe()
    assert info.details["accelerator"] == "tcg"
    assert info.details["kernel"] == "6.1.0-57-cloud-amd64"


@pytest.mark.usefixtures("with_qemu")
def test_the_assets_directory_is_a_setting(tmp_path: Path) -> None:
    fake_assets(tmp_path / "elsewhere")
    kernel, status = load(tmp_path, assets=str(tmp_path / "elsewhere"), accel="tcg")
    assert status.state == "loaded", status
    assert kernel.runtimes.get(NAME).describe().details["assets"] == str(tmp_path / "elsewhere")


@pytest.mark.usefixtures("with_qemu")
def test_a_root_without_assets_uses_the_machines(tmp_path: Path) -> None:
    fake_assets(tmp_path / "machine" / "kata" / "assets")
    kernel, status = load(tmp_path, accel="tcg")
    assert status.state == "loaded", status
    details = kernel.runtimes.get(NAME).describe().details
    assert details["assets"] == str(tmp_path / "machine" / "kata" / "assets")


def test_knows_qemu_for_arm_machines() -> None:
    assert plugin.qemu_program("aarch64") == ("qemu-system-aarch64", "qemu-system-arm")
