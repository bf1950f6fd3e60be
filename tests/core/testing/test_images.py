"""The offline test images: the busybox rootfs and the layer builder under it."""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from pouch.engine import Engine
from pouch.testing.images import (
    BUSYBOX_PATH,
    FIXED_MTIME,
    BusyboxMissing,
    LayerBuilder,
    busybox_rootfs_tar,
)


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_busybox_rootfs_is_reproducible(tmp_path: Path) -> None:
    first = busybox_rootfs_tar(tmp_path / "a.tar")
    second = busybox_rootfs_tar(tmp_path / "b.tar")
    assert first.read_bytes() == second.read_bytes()


def test_busybox_rootfs_into_a_directory(tmp_path: Path) -> None:
    written = busybox_rootfs_tar(tmp_path)
    assert written.parent == tmp_path and written.is_file()


def test_busybox_rootfs_contents(busybox_rootfs: Path) -> None:
    members = _members(busybox_rootfs.read_bytes())
    binary = members["bin/busybox"]
    assert binary.isreg() and binary.mode == 0o755
    assert binary.size == BUSYBOX_PATH.stat().st_size
    for applet in ("sh", "sleep", "echo", "cat", "ls"):
        assert members[f"bin/{applet}"].issym()
        assert members[f"bin/{applet}"].linkname == "busybox"
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    for directory in ("proc", "sys", "dev", "root", "etc"):
        assert members[directory].isdir()
    assert "etc/hostname" not in members and "etc/hosts" not in members
    assert all(m.mtime == FIXED_MTIME and m.uname == "" and m.uid == 0 for m in members.values())
    names = list(members)
    assert names == sorted(names, key=lambda n: n.split("/"))


def test_busybox_rootfs_users(busybox_rootfs: Path) -> None:
    with tarfile.open(busybox_rootfs) as tar:
        passwd = tar.extractfile("etc/passwd")
        group = tar.extractfile("etc/group")
        assert passwd is not None and group is not None
        users = {line.split(":")[0]: line for line in passwd.read().decode().splitlines()}
        groups = group.read().decode()
    assert users["root"].startswith("root:x:0:0:") and users["root"].endswith("/bin/sh")
    assert users["nobody"].startswith("nobody:x:65534:65534:")
    assert "root:x:0:" in groups and ":65534:" in groups


def test_busybox_runs_from_the_rootfs(busybox_rootfs: Path, tmp_path: Path) -> None:
    with tarfile.open(busybox_rootfs) as tar:
        tar.extractall(tmp_path, filter="tar")
    result = subprocess.run(
        [str(tmp_path / "bin" / "sh"), "-c", "echo hi from busybox"],
        capture_output=True,
        check=True,
        timeout=10,
    )
    assert result.stdout == b"hi from busybox\n"


def test_missing_busybox_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(BusyboxMissing, match="apt-get install busybox-static"):
        busybox_rootfs_tar(tmp_path / "out.tar", busybox=tmp_path / "no-busybox")


def test_layer_adds_parents_sorted() -> None:
    members = _members(LayerBuilder().file("/usr/local/bin/tool", b"x", 0o755).tobytes())
    assert list(members) == ["usr", "usr/local", "usr/local/bin", "usr/local/bin/tool"]
    assert members["usr/local"].isdir() and members["usr/local"].mode == 0o755
    assert members["usr/local/bin/tool"].mode == 0o755


def test_layer_whiteouts_without_parents() -> None:
    layer = LayerBuilder(parents=False).whiteout("/etc/passwd").opaque("/var/lib")
    members = _members(layer.tobytes())
    assert list(members) == ["etc/.wh.passwd", "var/lib", "var/lib/.wh..wh..opq"]
    assert members["etc/.wh.passwd"].isreg() and members["etc/.wh.passwd"].size == 0


def test_layer_links_and_replacement() -> None:
    layer = LayerBuilder().file("a", b"one").file("a", b"two").link("b", "/a").symlink("c", "a")
    with tarfile.open(fileobj=io.BytesIO(layer.tobytes())) as tar:
        content = tar.extractfile("a")
        assert content is not None and content.read() == b"two"
        assert tar.getmember("b").islnk() and tar.getmember("b").linkname == "a"
        assert tar.getmember("c").issym() and tar.getmember("c").linkname == "a"


@pytest.mark.parametrize("path", ["/", "..", "a/../../b"])
def test_layer_refuses_paths_outside(path: str) -> None:
    with pytest.raises(ValueError, match="inside the layer"):
        LayerBuilder().file(path, b"")


def test_layer_digest_matches_bytes_compressed() -> None:
    out = io.BytesIO()
    digest = LayerBuilder().file("x", b"data").write(out, compress=True)
    assert digest == "sha256:" + hashlib.sha256(out.getvalue()).hexdigest()
    assert out.getvalue() == LayerBuilder().file("x", b"data").tobytes(compress=True)
    assert list(_members(gzip.decompress(out.getvalue()))) == ["x"]


@pytest.mark.anyio
async def test_busybox_fixture_imports_the_image(engine: Engine, busybox: str) -> None:
    image = engine.images.store.resolve(busybox)
    assert image.config.cmd == ["sh"]
    assert any(name.endswith("busybox:latest") for name in image.names)
