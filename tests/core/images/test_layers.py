"""Layers unpack with everything a filesystem holds, and never outside their directory."""

from __future__ import annotations

import gzip
import io
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pouch.errors import InvalidArgument
from pouch.images import apply_layer

if TYPE_CHECKING:
    from tests.core.images.conftest import Kit


def apply(data: bytes, dest: Path, *, whiteouts: bool = True) -> str:
    dest.mkdir(parents=True, exist_ok=True)
    return apply_layer(io.BytesIO(data), dest, whiteouts=whiteouts).diff_id


@pytest.mark.root
def test_ownership_modes_times_links_devices_and_xattrs_are_kept(
    tmp_path: Path, kit: type[Kit]
) -> None:
    layer = (
        kit.Layer()
        .dir("bin")
        .file("bin/su", b"#!setuid\n", 0o4755, uid=0, gid=0)
        .file("bin/wall", b"x", 0o2755, gid=5)
        .dir("tmp", 0o1777)
        .dir("home/user", 0o700, uid=1000, gid=1000)
        .file("home/user/notes", b"hi\n", 0o600, uid=1000, gid=1000, mtime=1_600_000_000)
        .file("bin/ping", b"\x7fELF", 0o755, xattrs={"user.pouch": b"\x01\x02yes"})
        .symlink("bin/sh", "/bin/busybox")
        .hardlink("bin/su-again", "bin/su")
        .device("dev/null", 1, 3)
        .device("dev/loop0", 7, 0, block=True)
        .fifo("run/initctl")
    )
    data = layer.tobytes()
    dest = tmp_path / "fs"
    assert apply(data, dest) == kit.sha256(data)

    su = os.lstat(dest / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(dest / "bin/wall").st_mode) == 0o2755
    assert os.lstat(dest / "bin/wall").st_gid == 5
    assert stat.S_IMODE(os.lstat(dest / "tmp").st_mode) == 0o1777
    home = os.lstat(dest / "home/user")
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (1000, 1000, 0o700)
    notes = os.lstat(dest / "home/user/notes")
    assert (notes.st_uid, notes.st_mtime) == (1000, 1_600_000_000)
    assert os.lstat(dest / "bin").st_mtime == 946684800  # set after its entries were added
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert os.lstat(dest / "bin/su-again").st_ino == su.st_ino
    null = os.lstat(dest / "dev/null")
    assert (
        stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    )
    assert stat.S_ISBLK(os.lstat(dest / "dev/loop0").st_mode)
    assert stat.S_ISFIFO(os.lstat(dest / "run/initctl").st_mode)
    assert os.getxattr(dest / "bin/ping", "user.pouch") == b"\x01\x02yes"


def test_the_diff_id_is_the_digest_of_the_uncompressed_tar(tmp_path: Path, kit: type[Kit]) -> None:
    layer = kit.Layer().file("a", b"a" * 5000).file("b/c", b"c")
    plain = layer.tobytes()
    assert apply(gzip.compress(plain), tmp_path / "gz") == kit.sha256(plain)
    assert apply(plain, tmp_path / "plain") == kit.sha256(plain)
    assert (tmp_path / "gz/b/c").read_bytes() == b"c"


def test_zstd_needs_the_zstandard_module(tmp_path: Path, kit: type[Kit]) -> None:
    plain = kit.Layer().file("a", b"zstd!").tobytes()
    try:
        import zstandard  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        from pouch.errors import NotSupported

        with pytest.raises(NotSupported, match="zstandard"):
            apply(b"\x28\xb5\x2f\xfd" + b"\0" * 32, tmp_path / "z")
        return
    data = zstandard.ZstdCompressor().compress(plain)
    assert apply(data, tmp_path / "z") == kit.sha256(plain)


@pytest.mark.root
def test_whiteouts_become_overlayfs_whiteouts(tmp_path: Path, kit: type[Kit]) -> None:
    layer = kit.Layer().dir("etc").whiteout("etc/gone").dir("data").opaque("data")
    layer.whiteout("kept").file("kept", b"same layer content wins")
    dest = tmp_path / "fs"
    apply(layer.tobytes(), dest)
    gone = os.lstat(dest / "etc/gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(dest / "data", "trusted.overlay.opaque") == b"y"
    assert not (dest / "etc/.wh.gone").exists()
    assert not (dest / "data/.wh..wh..opq").exists()
    assert (dest / "kept").read_bytes() == b"same layer content wins"


def test_a_base_layer_drops_whiteouts(tmp_path: Path, kit: type[Kit]) -> None:
    layer = kit.Layer().dir("etc").whiteout("etc/gone").opaque("etc").whiteout("nodir/x")
    dest = tmp_path / "fs"
    apply(layer.tobytes(), dest, whiteouts=False)
    assert os.listdir(dest) == ["etc"]
    assert os.listdir(dest / "etc") == []


def test_a_later_entry_replaces_an_earlier_one(tmp_path: Path, kit: type[Kit]) -> None:
    layer = kit.Layer().file("x", b"old").symlink("y", "/etc/passwd").dir("z").file("z/f")
    layer.file("x", b"new").file("y", b"not a link").file("z", b"file now")
    dest = tmp_path / "fs"
    apply(layer.tobytes(), dest)
    assert (dest / "x").read_bytes() == b"new"
    assert not (dest / "y").is_symlink() and (dest / "y").read_bytes() == b"not a link"
    assert (dest / "z").read_bytes() == b"file now"


def _escape_layers(kit: type[Kit], outside: Path) -> list[tuple[str, bytes]]:
    layer = kit.Layer
    return [
        ("../x", layer().file("../x", b"pwned").tobytes()),
        ("a/../../x", layer().dir("a").file("a/../../x", b"pwned").tobytes()),
        ("/abs", layer().file("/abs", b"pwned").tobytes()),
        ("evil/pwned", layer().symlink("evil", "/").file("evil/pwned", b"pwned").tobytes()),
        (
            "out/pwned",
            layer().symlink("out", str(outside)).file("out/pwned", b"pwned").tobytes(),
        ),
        ("rel/pwned", layer().symlink("rel", "..").file("rel/pwned", b"x").tobytes()),
        ("h", layer().hardlink("h", "../outside/secret").tobytes()),
        ("h2", layer().hardlink("h2", str(outside / "secret")).tobytes()),
        ("h3", layer().symlink("s", str(outside)).hardlink("h3", "s/secret").tobytes()),
        ("h4", layer().hardlink("h4", "does/not/exist").tobytes()),
        (
            "evil/.wh.secret",
            layer().symlink("evil", str(outside)).whiteout("evil/secret").tobytes(),
        ),
    ]


@pytest.mark.parametrize("case", range(11))
def test_escaping_entries_are_refused_and_name_themselves(
    tmp_path: Path, kit: type[Kit], case: int
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    before = sorted(os.listdir(tmp_path)), sorted(os.listdir(outside))
    entry, data = _escape_layers(kit, outside)[case]
    with pytest.raises(InvalidArgument) as caught:
        apply(data, tmp_path / "layer" / "fs")
    assert repr(entry) in str(caught.value)
    assert (sorted(os.listdir(tmp_path)), sorted(os.listdir(outside))) == (
        sorted([*before[0], "layer"]),
        before[1],
    )
    assert (outside / "secret").read_bytes() == b"secret"
    assert os.stat(outside / "secret").st_nlink == 1
    assert not Path("/pwned").exists()


def test_garbage_is_not_a_layer(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a valid tar archive"):
        apply(b"this is not a tarball at all" * 30, tmp_path / "fs")
    with pytest.raises(InvalidArgument, match="not a valid tar archive"):
        apply(b"\x1f\x8bnot gzip either", tmp_path / "fs2")
