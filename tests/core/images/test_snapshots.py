"""Container root filesystems: overlay mounts over per-layer snapshots, mounted for real."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pouch.errors import Conflict, InvalidArgument, NoSuchObject
from pouch.images import Image, ImageStore, Snapshotter, chain_ids
from pouch.store import Database

if TYPE_CHECKING:
    from tests.core.images.conftest import Kit


def test_chain_ids_follow_the_image_spec() -> None:
    a, b, c = (f"sha256:{ch * 64}" for ch in "abc")
    chains = chain_ids([a, b, c])
    assert chains[0] == a
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chains[1] == ab
    assert chains[2] == "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()


@pytest.mark.root
def test_whiteouts_and_opaque_dirs_hide_exactly_what_they_should(
    store: ImageStore, kit: type[Kit], build_image: Callable[..., Image], tmp_path: Path
) -> None:
    base = (
        kit.Layer()
        .dir("bin")
        .file("bin/sh", b"sh", 0o755)
        .dir("etc")
        .file("etc/keep", b"keep")
        .file("etc/gone", b"gone")
        .dir("data")
        .file("data/old1", b"1")
        .dir("data/sub")
        .file("data/sub/old2", b"2")
        .dir("opt")
        .file("opt/old", b"old")
        .dir("var/log")
        .file("var/log/old.log", b"log")
    )
    top = (
        kit.Layer()
        .dir("etc")
        .whiteout("etc/gone")
        .file("etc/added", b"added")
        .dir("data")
        .opaque("data")
        .file("data/new", b"new")
        # Deleted and made again in one layer: the lower contents must not show.
        .whiteout("opt")
        .dir("opt")
        .file("opt/new", b"new")
        .dir("var")
        .file("var/fresh", b"fresh")
        .whiteout("var")
    )
    image = build_image([base.tobytes(compress=True), top.tobytes()])
    mounts = store.rootfs("c1", image)
    assert [m.type for m in mounts] == ["overlay"]
    with kit.mounted(mounts, tmp_path / "rootfs") as rootfs:
        assert kit.visible(rootfs) == {
            "bin",
            "bin/sh",
            "etc",
            "etc/keep",
            "etc/added",
            "data",
            "data/new",
            "opt",
            "opt/new",
            "var",
            "var/fresh",
        }
        assert (rootfs / "etc/added").read_bytes() == b"added"
        (rootfs / "etc/keep").write_bytes(b"changed by the container")
        (rootfs / "bin/sh").unlink()
    # The container's changes land in its own snapshot, never in the layers.
    lower = store.snapshots.get(image.diff_ids[0])
    assert lower is not None
    assert (store.snapshots.dir(lower.number) / "fs/etc/keep").read_bytes() == b"keep"
    assert (store.snapshots.dir(lower.number) / "fs/bin/sh").exists()
    assert store.snapshots.usage("c1").size == len(b"changed by the container")
    store.release("c1")
    assert not any(s.kind == "active" for s in store.snapshots.list())


@pytest.mark.root
def test_a_one_layer_image_still_gets_an_overlay(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    layer = kit.Layer().file("hello", b"world")
    image = store.import_rootfs(layer.write(tmp_path / "rootfs.tar"), "one")
    mounts = store.rootfs("c1", image)
    assert mounts[0].type == "overlay"
    assert sum(o.startswith("lowerdir=") for o in mounts[0].options) == 1
    assert store.mounts("c1") == mounts
    with kit.mounted(mounts, tmp_path / "rootfs") as rootfs:
        assert (rootfs / "hello").read_bytes() == b"world"
        (rootfs / "written").write_bytes(b"by the container")
    assert store.snapshots.usage("c1").inodes == 1


@pytest.mark.root
def test_no_parent_gives_a_writable_bind_of_an_empty_dir(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    mounts = store.snapshots.prepare("scratch", None)
    assert len(mounts) == 1
    assert (mounts[0].type, mounts[0].options) == ("bind", ["rbind", "rw"])
    assert os.listdir(mounts[0].source) == []
    with kit.mounted(mounts, tmp_path / "rootfs") as rootfs:
        (rootfs / "file").write_bytes(b"x")
    assert os.listdir(mounts[0].source) == ["file"]


@pytest.mark.root
def test_an_image_of_120_layers_mounts(
    store: ImageStore, kit: type[Kit], build_image: Callable[..., Image], tmp_path: Path
) -> None:
    layers = [kit.Layer().file(f"layer{n:03}", str(n).encode()).tobytes() for n in range(120)]
    image = build_image(layers, "many:layers")
    mounts = store.rootfs("c1", image)
    options = ",".join(mounts[0].options)
    assert options.count(":") == 119
    assert len(options) < os.sysconf("SC_PAGE_SIZE")
    with kit.mounted(mounts, tmp_path / "rootfs") as rootfs:
        assert kit.visible(rootfs) == {f"layer{n:03}" for n in range(120)}
        assert (rootfs / "layer119").read_bytes() == b"119"


def test_mount_options_that_cannot_fit_are_a_clear_error(tmp_path: Path, kit: type[Kit]) -> None:
    deep = tmp_path / ("long-state-root-" * 12)
    db = Database(tmp_path / "pouch.db")
    try:
        store = ImageStore(deep, db)
        layers = [kit.Layer().file(f"f{n}", b"").tobytes() for n in range(25)]
        image = store.add_image(kit.manifest_for(store, layers), names=["deep:1"])
        with pytest.raises(InvalidArgument, match=r"25 layers.*more than the kernel's"):
            store.rootfs("c1", image)
        assert store.snapshots.get("c1") is None
        assert len(os.listdir(store.snapshots.root)) == 25
    finally:
        db.close()


def test_snapshot_keys_parents_and_removal(store: ImageStore, kit: type[Kit]) -> None:
    snapshots: Snapshotter = store.snapshots
    layers = [kit.Layer().file("a").tobytes(), kit.Layer().file("b").tobytes()]
    image = store.add_image(kit.manifest_for(store, layers), names=["two:1"])
    bottom, top = chain_ids(image.diff_ids)
    recorded = snapshots.get(top)
    assert recorded is not None and recorded.parent == bottom
    snapshots.prepare("c1", top)
    with pytest.raises(Conflict, match="already exists"):
        snapshots.prepare("c1", top)
    with pytest.raises(NoSuchObject):
        snapshots.prepare("c2", "sha256:" + "0" * 64)
    with pytest.raises(InvalidArgument):
        snapshots.prepare("sha256:" + "1" * 64, top)
    with pytest.raises(Conflict, match="built on it"):
        snapshots.remove(bottom)
    ro = snapshots.mounts(top)
    assert ro[0].type == "overlay" and not any("upperdir" in o for o in ro[0].options)
    assert snapshots.mounts(bottom)[0].options == ["rbind", "ro"]
    snapshots.remove("c1")
    snapshots.remove("c1")
    with pytest.raises(NoSuchObject):
        snapshots.mounts("c1")
    assert {s.key for s in snapshots.list()} == {bottom, top}
