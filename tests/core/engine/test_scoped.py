"""Paths resolved inside a container's root, and tars in and out of it, on plain dirs.

No container is needed: a directory stands for the root, another for a
volume, and the host around them must stay untouched whatever the links and
tar entries say.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from pouch.engine._changes import changes, write_layer
from pouch.engine._scoped import ScopedRoot
from pouch.engine._tar_in import extract_tar
from pouch.engine._tar_out import go_mode, stat_path, write_tar
from pouch.errors import InvalidArgument, NoSuchObject


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, Path]:
    root, volume, host = tmp_path / "root", tmp_path / "volume", tmp_path / "host"
    for directory in (root / "etc", root / "tmp", root / "data", volume, host):
        directory.mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (host / "secret").write_text("host secret\n")
    (root / "escape").symlink_to(host)  # absolute, to the host's directory
    (root / "climb").symlink_to("../../../../host")
    (root / "loop").symlink_to("loop")
    (volume / "inside").write_text("volume file\n")
    return root, volume, host


def _scoped(world: tuple[Path, Path, Path]) -> ScopedRoot:
    root, volume, _ = world
    return ScopedRoot(str(root), {"/data": str(volume)})


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


_count = iter(range(1_000_000))


def _tar(where: Path, *entries: tarfile.TarInfo, data: bytes = b"x") -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info in entries:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    path = where / f"{next(_count)}.tar"
    path.write_bytes(buffer.getvalue())
    return path


def test_links_resolve_inside_the_root(world: tuple[Path, Path, Path]) -> None:
    root, _, host = world
    scoped = _scoped(world)
    for path in ("/escape/secret", "/climb/secret", "/../../host/secret"):
        with pytest.raises(NoSuchObject):  # the container has no such directory
            scoped.resolve(path, follow=True)
    (root / str(host).lstrip("/")).mkdir(parents=True)
    with scoped.resolve("/escape/secret", follow=True) as found:
        assert found.path == f"{host}/secret" and not found.exists()
    with scoped.resolve("/data/inside") as found:
        assert found.exists() and found.path == "/data/inside"
    with pytest.raises(OSError):
        scoped.resolve("/loop/x")
    assert stat_path(scoped, "/escape").link_target == str(host)
    assert stat_path(scoped, "/etc").mode == go_mode(0o040755) == (1 << 31) | 0o755
    with pytest.raises(NoSuchObject):
        stat_path(scoped, "/nothing")


def test_hostile_tars_write_nothing_outside(world: tuple[Path, Path, Path]) -> None:
    root, volume, host = world
    scoped = _scoped(world)
    spool = root.parent
    before = {p: p.read_bytes() for p in host.rglob("*")}

    def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        return info

    with pytest.raises(InvalidArgument):
        extract_tar(scoped, "/tmp", _tar(spool, entry("ok"), entry("../../../x")))
    assert not (root / "tmp" / "ok").exists()  # refused whole
    with pytest.raises(InvalidArgument):
        extract_tar(scoped, "/tmp", _tar(spool, entry("h", tarfile.LNKTYPE, "../../host/secret")))
    extract_tar(
        scoped,
        "/tmp",
        _tar(
            spool,
            entry("/abs"),
            entry("out", tarfile.SYMTYPE, str(host)),
            entry("out/planted"),
            entry("up", tarfile.SYMTYPE, "../../../../../.."),
            entry(f"up{host}/planted2"),
            entry("secret-link", tarfile.SYMTYPE, str(host / "secret")),
            entry("secret-link"),  # replaces the link, never writes through it
        ),
    )
    extract_tar(scoped, "/escape", _tar(spool, entry("through")))  # the root's /host…, made
    extract_tar(scoped, "/data", _tar(spool, entry("new")))
    assert (root / "tmp" / "abs").exists()
    assert (root / str(host).lstrip("/") / "planted").exists()
    assert (root / str(host).lstrip("/") / "planted2").exists()
    assert (root / str(host).lstrip("/") / "through").exists()
    assert (root / "tmp" / "secret-link").is_file()
    assert (volume / "new").exists() and not (root / "data" / "new").exists()
    assert {p: p.read_bytes() for p in host.rglob("*")} == before


def test_tar_out_names_and_volumes(world: tuple[Path, Path, Path]) -> None:
    scoped = _scoped(world)
    out = io.BytesIO()
    write_tar(scoped, "/", out, volumes=True, top=False)
    names = _names(out.getvalue())
    assert "etc/passwd" in names and "data/inside" in names and "escape" in names
    assert not any("secret" in n for n in names)
    out = io.BytesIO()
    write_tar(scoped, "/etc/passwd", out)
    assert _names(out.getvalue()) == ["passwd"]


def test_changes_and_layer_of_an_upper_dir(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "gone").write_text("x")
    (lower / "etc" / "kept").write_text("x")
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "gone", 0o600 | 0o020000, 0)  # a whiteout
    (upper / "etc" / "kept").write_text("changed")
    (upper / "new").write_text("new")
    found = [(c.path, c.kind) for c in changes(upper, [lower])]
    assert found == [("/etc", 0), ("/etc/gone", 2), ("/etc/kept", 0), ("/new", 1)]
    out = io.BytesIO()
    write_layer(upper, out)
    names = _names(out.getvalue())
    assert names == ["etc", "etc/.wh.gone", "etc/kept", "new"]


def test_owners_through_a_user_namespace() -> None:
    from pouch.engine._scoped import IdShift

    ids = IdShift([(0, 100000, 65536)], [(0, 100000, 65536)])
    assert ids.to_host(0, 0) == (100000, 100000)
    assert ids.to_host(1000, 50) == (101000, 100050)
    assert ids.to_container(101000, 100050) == (1000, 50)
    assert ids.to_container(0, 0) == (65534, 65534)  # the host's root is nobody inside
    assert ids.to_host(70000, 70000) == (165534, 165534)  # unmapped: the namespace's nobody
    assert IdShift().to_host(5, 6) == (5, 6) and IdShift().to_container(5, 6) == (5, 6)
