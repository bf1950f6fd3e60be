"""The assets' manifest: what makes a build reusable, and what makes it rebuild."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgspec
import pytest
from pouch_kata import _assets
from pouch_kata._assets import FORMAT, AssetError, Manifest, build_assets, load_assets
from pouch_kata._cpio import read_newc
from pouch_kata._guest_init import INIT_SCRIPT, MODULES_LIST, READY_MARKER, SCRIPT_PATH


def fake_assets(directory: Path, *, agent: bytes | None = None) -> Manifest:
    directory.mkdir(parents=True)
    (directory / "vmlinux").write_bytes(b"\x7fELF kernel")
    (directory / "initramfs.cpio.gz").write_bytes(b"archive")
    manifest = Manifest(
        format=FORMAT,
        packages={"linux-image-6.1.0-57-cloud-amd64": "6.1.192-3", "busybox-static": "1:1.35"},
        kernel_release="6.1.0-57-cloud-amd64",
        vmlinux_sha256=hashlib.sha256(b"\x7fELF kernel").hexdigest(),
        initramfs_sha256=hashlib.sha256(b"archive").hexdigest(),
        modules=["virtio_mmio"],
        agent_sha256=hashlib.sha256(agent).hexdigest() if agent else "",
    )
    (directory / "manifest.json").write_bytes(msgspec.json.encode(manifest))
    return manifest


@pytest.fixture
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def refuse(package: str, into: Path) -> Path:
        asked.append(package)
        raise _assets.DownloadError(f"no download in this test ({package})")

    monkeypatch.setattr(_assets, "_download", refuse)
    return asked


def test_a_matching_manifest_is_reused(tmp_path: Path, no_downloads: list[str]) -> None:
    manifest = fake_assets(tmp_path / "a")
    assets, built = build_assets(tmp_path / "a")
    assert not built and not no_downloads
    assert assets.manifest == manifest


@pytest.mark.parametrize(
    "damage",
    ["missing manifest", "changed kernel", "other format", "an agent now"],
)
def test_anything_that_does_not_match_rebuilds(
    tmp_path: Path, no_downloads: list[str], damage: str
) -> None:
    directory = tmp_path / "a"
    fake_assets(directory)
    agent = None
    if damage == "missing manifest":
        (directory / "manifest.json").unlink()
    elif damage == "changed kernel":
        (directory / "vmlinux").write_bytes(b"\x7fELF other")
    elif damage == "other format":
        raw = msgspec.json.decode((directory / "manifest.json").read_bytes())
        raw["format"] = FORMAT + 1
        (directory / "manifest.json").write_bytes(msgspec.json.encode(raw))
    else:
        agent = tmp_path / "agent"
        agent.write_bytes(b"\x7fELF agent")
    with pytest.raises(_assets.DownloadError):
        build_assets(directory, agent=agent)
    assert no_downloads == ["linux-image-cloud-amd64"]


def test_force_rebuilds(tmp_path: Path, no_downloads: list[str]) -> None:
    fake_assets(tmp_path / "a")
    with pytest.raises(_assets.DownloadError):
        build_assets(tmp_path / "a", force=True)
    assert no_downloads


def test_loading_without_verifying_only_needs_the_files(tmp_path: Path) -> None:
    fake_assets(tmp_path / "a")
    assert load_assets(tmp_path / "a").manifest.kernel_release == "6.1.0-57-cloud-amd64"
    (tmp_path / "a" / "vmlinux").unlink()
    with pytest.raises(AssetError, match="vmlinux is missing"):
        load_assets(tmp_path / "a")
    with pytest.raises(AssetError, match="no guest assets in"):
        load_assets(tmp_path / "b")


def test_the_initramfs_holds_busybox_modules_and_init(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_text("#!/bin/sh\nprintf '/bin/sh\\n/sbin/insmod\\n/bin/busybox\\n'\n")
    busybox.chmod(0o755)
    moddir = tmp_path / "modules"
    (moddir / "kernel").mkdir(parents=True)
    (moddir / "kernel" / "virtio.ko").write_bytes(b"\x7fELF virtio")
    out = tmp_path / "initramfs.cpio.gz"
    _assets.write_initramfs(
        out,
        busybox=busybox,
        moddir=moddir,
        release="6.1.0-57-cloud-amd64",
        modules=["kernel/virtio.ko"],
        agent=None,
        mtime=0,
    )
    entries = {name: (mode, data) for name, mode, data in read_newc(out.read_bytes())}
    assert entries["bin/sh"][1] == b"/bin/busybox"
    assert entries["sbin/insmod"][1] == b"/bin/busybox"
    assert entries["init"][1] == f"/{SCRIPT_PATH}".encode()
    assert entries[SCRIPT_PATH][1] == INIT_SCRIPT.encode()
    assert READY_MARKER in INIT_SCRIPT
    module = "lib/modules/6.1.0-57-cloud-amd64/kernel/virtio.ko"
    assert entries[module][1] == b"\x7fELF virtio"
    assert entries[MODULES_LIST][1] == f"/{module}\n".encode()
    for name in ("dev", "proc", "sys"):
        assert name in entries


def test_an_agent_becomes_init(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_text("#!/bin/sh\necho /bin/busybox\n")
    busybox.chmod(0o755)
    agent = tmp_path / "pouch-agent"
    agent.write_bytes(b"\x7fELF agent")
    out = tmp_path / "initramfs.cpio.gz"
    _assets.write_initramfs(
        out,
        busybox=busybox,
        moddir=tmp_path,
        release="r",
        modules=[],
        agent=agent,
        mtime=0,
    )
    entries = {name: (mode, data) for name, mode, data in read_newc(out.read_bytes())}
    assert entries["init"] == (0o100755, b"\x7fELF agent")
    assert SCRIPT_PATH in entries  # kept for the agent to imitate
    assert os.path.basename(SCRIPT_PATH) == "init.sh"
