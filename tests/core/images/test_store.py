"""The image store: import, resolve, tag, remove, collect garbage."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import pytest

from pouch.errors import Conflict, InvalidArgument, NoSuchImage, NoSuchObject, NotSupported
from pouch.images import (
    OCI_INDEX,
    Descriptor,
    Image,
    ImageStore,
    Index,
    Platform,
    host_platform,
)
from pouch.oci.image import ImageConfig

if TYPE_CHECKING:
    from tests.core.images.conftest import Kit


def rootfs_tar(kit: type[Kit], tmp_path: Path, marker: bytes = b"1") -> Path:
    layer = kit.Layer().dir("bin").file("bin/sh", b"#!/bin/true\n", 0o755).file("marker", marker)
    return layer.write(tmp_path / f"rootfs-{marker.decode()}.tar.gz", compress=True)


def test_import_then_resolve_by_name_id_prefix_and_digest(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    config = ImageConfig(cmd=["sh"], env=["PATH=/bin"])
    image = store.import_rootfs(rootfs_tar(kit, tmp_path), "busybox", config=config)
    assert image.names == ["docker.io/library/busybox:latest"]
    assert image.id.startswith("sha256:") and len(image.id) == 71
    assert image.config == config
    assert len(image.diff_ids) == 1 and image.chain_id == image.diff_ids[0]
    assert image.size == len(b"#!/bin/true\n") + 1
    assert image.os == "linux" and image.architecture == host_platform().architecture
    assert image.digests == []  # nothing was pushed or pulled
    hex_id = image.id.removeprefix("sha256:")
    refs = [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        "library/busybox",
        image.id,
        hex_id,
        image.id[:11],
        hex_id[:12],
        hex_id[:4],
        f"busybox@{image.manifest}",
    ]
    for ref in refs:
        assert store.resolve(ref).id == image.id, ref
    for missing in ["busybox:1.0", "other", "sha256:" + "f" * 64, hex_id[:3], "ffff"]:
        with pytest.raises(NoSuchImage):
            store.resolve(missing)
    with pytest.raises(InvalidArgument, match="'Not-Valid'"):
        store.resolve("Not-Valid")
    assert store.list() == [image]


def test_import_from_a_stream_and_the_blobs_it_writes(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    data = kit.Layer().file("hello", b"world").tobytes()
    image = store.import_rootfs(io.BytesIO(data), "localhost:5000/hello:v1")
    assert image.names == ["localhost:5000/hello:v1"]
    assert image.layers == [kit.sha256(data)]  # the tarball as given is the layer blob
    assert image.diff_ids == [kit.sha256(data)]
    assert sorted(store.content.list()) == sorted([image.id, image.manifest, *image.layers])
    with pytest.raises(InvalidArgument, match="takes no digest"):
        store.import_rootfs(io.BytesIO(data), f"hello@{image.manifest}")


def test_records_survive_a_new_store_on_the_same_database(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    image = store.import_rootfs(rootfs_tar(kit, tmp_path), "app:1")
    again = ImageStore(store.root, store.table._db)
    assert again.resolve("app:1") == image


def test_add_image_records_names_digests_and_an_index_picks_this_platform(
    store: ImageStore, kit: type[Kit]
) -> None:
    layer = kit.Layer().file("etc/os-release", b"ID=test\n").tobytes(compress=True)
    manifest = kit.manifest_for(store, [layer])
    other = Descriptor(
        mediaType=manifest.mediaType,
        digest=kit.sha256(b"never fetched"),
        size=13,
        platform=Platform(architecture="s390x-not-here", os="linux"),
    )
    mine = msgspec.structs.replace(manifest, platform=host_platform())
    index = Index(schemaVersion=2, mediaType=OCI_INDEX, manifests=[other, mine])
    index_digest = store.content.write(msgspec.json.encode(index))
    image = store.add_image(index_digest, names=["registry.test/team/app:2"])
    assert image.names == ["registry.test/team/app:2"]
    assert image.digests == [f"registry.test/team/app@{index_digest}"]
    assert image.manifest == manifest.digest
    assert store.resolve(f"registry.test/team/app@{index_digest}").id == image.id
    # The same image under another name keeps both names and both digests.
    again = store.add_image(index_digest, names=["mirror.test/app:2"])
    assert again.names == ["mirror.test/app:2", "registry.test/team/app:2"]
    assert len(again.digests) == 2
    with pytest.raises(NoSuchImage, match="platform"):
        store.add_image(index_digest, platform=Platform(architecture="mips", os="linux"))


class DictSource:
    """A ``BlobSource`` serving blobs from memory, counting fetches."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.fetched: list[str] = []

    def fetch(self, descriptor: Descriptor) -> Iterable[bytes]:
        self.fetched.append(descriptor.digest)
        if descriptor.digest not in self.blobs:
            raise NoSuchObject(f"no blob {descriptor.digest}")
        data = self.blobs[descriptor.digest]
        return [data[:7], data[7:]]


def test_missing_blobs_come_from_the_source_and_are_verified(
    store: ImageStore, kit: type[Kit]
) -> None:
    layers = [kit.Layer().file("one", b"1").tobytes(), kit.Layer().file("two", b"2").tobytes()]
    manifest = kit.manifest_for(store, layers)
    blobs = {digest: store.content.read(digest) for digest in store.content.list()}
    for digest in blobs:
        store.content.delete(digest)
    source = DictSource(blobs)
    image = store.add_image(manifest, names=["app:fetched"], source=source)
    assert sorted(source.fetched) == sorted(blobs)
    assert sorted(store.content.list()) == sorted(blobs)
    assert image.digests == [f"docker.io/library/app@{manifest.digest}"]

    # A source that lies about a blob: refused, and the lie is not kept.
    store.remove("app:fetched")
    assert store.content.list() == []
    bad_layer = kit.sha256(layers[1])
    liar = DictSource({**blobs, bad_layer: layers[0] + b"tampered"})
    with pytest.raises(InvalidArgument, match="mismatch"):
        store.add_image(manifest, names=["app:fetched"], source=liar)
    assert bad_layer not in store.content.list()
    assert sorted(os.listdir(store.content.root)) == sorted(
        d.removeprefix("sha256:") for d in store.content.list()
    )
    with pytest.raises(NoSuchObject):
        store.add_image(kit.sha256(b"nothing"))


def test_a_layer_that_does_not_match_its_diff_id_is_refused(
    store: ImageStore, kit: type[Kit]
) -> None:
    good = kit.Layer().file("a", b"a").tobytes()
    manifest = kit.manifest_for(store, [good])
    raw = store.content.read(manifest.digest)
    evil = kit.Layer().file("a", b"evil").tobytes()
    decoded = msgspec.json.decode(raw)
    decoded["layers"][0]["digest"] = store.content.write(evil)
    decoded["layers"][0]["size"] = len(evil)
    tampered = store.content.write(msgspec.json.encode(decoded))
    with pytest.raises(InvalidArgument, match="diffID mismatch"):
        store.add_image(tampered, names=["evil:1"])
    assert store.snapshots.list() == []
    assert os.listdir(store.snapshots.root) == []


def test_tag_and_remove_follow_docker(store: ImageStore, kit: type[Kit], tmp_path: Path) -> None:
    image = store.import_rootfs(rootfs_tar(kit, tmp_path), "a")
    store.tag("a", "b:1")
    store.tag(image.id, "example.com/c")
    assert store.resolve("b:1").names == [
        "docker.io/library/a:latest",
        "docker.io/library/b:1",
        "example.com/c:latest",
    ]
    with pytest.raises(Conflict, match="3 repositories"):
        store.remove(image.id)
    removal = store.remove("a")
    assert (removal.untagged, removal.deleted) == (["docker.io/library/a:latest"], [])
    with pytest.raises(NoSuchImage):
        store.resolve("a")
    assert store.remove("example.com/c").deleted == []
    removal = store.remove("b:1")
    assert (removal.untagged, removal.deleted) == (["docker.io/library/b:1"], [image.id])
    with pytest.raises(NoSuchImage):
        store.resolve(image.id)
    with pytest.raises(NoSuchImage):
        store.remove("b:1")
    assert store.content.list() == []
    assert store.snapshots.list() == []


def test_moving_a_name_leaves_the_old_image_dangling_until_pruned(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    old = store.import_rootfs(rootfs_tar(kit, tmp_path, b"1"), "app")
    new = store.import_rootfs(rootfs_tar(kit, tmp_path, b"2"), "app")
    assert store.resolve("app").id == new.id
    assert store.resolve(old.id).names == []
    collected = store.prune()
    assert collected.images == [old.id]
    assert set(collected.blobs) == {old.id, old.manifest, *old.layers}
    assert collected.snapshots == [old.chain_id]
    assert collected.reclaimed > 0
    assert store.list() == [store.resolve("app")]


def test_pruning_all_removes_every_image_no_container_uses(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    used = store.import_rootfs(rootfs_tar(kit, tmp_path, b"1"), "used")
    spare = store.import_rootfs(rootfs_tar(kit, tmp_path, b"2"), "spare:1")
    store.tag("spare:1", "spare:2")
    in_use: Callable[[str], bool] = lambda image_id: image_id == used.id  # noqa: E731
    assert store.prune(in_use=in_use).images == []  # both are tagged
    collected = store.prune(in_use=in_use, all=True)
    assert collected.images == [spare.id]
    assert sorted(collected.untagged) == [
        "docker.io/library/spare:1",
        "docker.io/library/spare:2",
    ]
    assert spare.id in collected.blobs and collected.reclaimed > 0
    assert store.list() == [store.resolve("used")]


def test_an_image_in_use_is_kept_unless_forced(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    image = store.import_rootfs(rootfs_tar(kit, tmp_path), "busy")
    store.rootfs("c1", image)
    in_use: Callable[[str], bool] = lambda image_id: image_id == image.id  # noqa: E731
    with pytest.raises(Conflict, match="a container uses"):
        store.remove("busy", in_use=in_use)
    with pytest.raises(Conflict):
        store.remove(image.id, in_use=in_use)
    assert store.resolve("busy").names == ["docker.io/library/busy:latest"]
    assert store.prune(in_use=in_use).images == []
    removal = store.remove("busy", in_use=in_use, force=True)
    assert removal.deleted == [image.id]
    # The container's snapshot still stands on the image's layer.
    assert store.snapshots.get(image.chain_id) is not None
    assert store.mounts("c1")[0].type == "overlay"
    store.release("c1")
    store.release("c1")  # idempotent
    assert store.gc().snapshots == [image.chain_id]
    assert store.snapshots.list() == []


def test_gc_removes_only_what_nothing_references(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    image = store.import_rootfs(rootfs_tar(kit, tmp_path), "keep")
    stray = store.content.write(b"nobody refers to me")
    leased = store.content.write(b"an older blob a client pinned")
    for digest in (stray, leased):  # written long before any lease opened
        os.utime(store.content.path(digest), (1_000_000_000, 1_000_000_000))
    crashed = store.snapshots.root / "999"
    (crashed / "fs").mkdir(parents=True)
    store.rootfs("c1", image)
    with store.lease(leased):
        in_flight = store.content.write(b"a pull in progress, not recorded yet")
        collected = store.gc()
    assert collected.blobs == [stray]
    assert collected.reclaimed == len(b"nobody refers to me")
    assert not crashed.exists()
    assert {leased, in_flight} <= set(store.content.list())
    assert sorted(s.key for s in store.snapshots.list()) == sorted([image.chain_id, "c1"])
    assert sorted(store.gc().blobs) == sorted([leased, in_flight])
    assert store.resolve("keep") == image


def test_a_failed_import_leaves_no_snapshot_blob_or_file_outside(
    store: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = kit.Layer().file("ok", b"fine").symlink("escape", str(outside)).file("escape/x", b"!")
    with pytest.raises(InvalidArgument, match="'escape/x'"):
        store.import_rootfs(evil.write(tmp_path / "evil.tar"), "evil")
    assert os.listdir(outside) == []
    assert store.snapshots.list() == []
    assert os.listdir(store.snapshots.root) == []
    assert store.content.list() == []
    with pytest.raises(NoSuchImage):
        store.resolve("evil")


def test_manifests_that_are_not_images_are_refused(store: ImageStore, kit: type[Kit]) -> None:
    schema1 = store.content.write(b'{"schemaVersion": 1, "name": "old", "fsLayers": []}')
    with pytest.raises(NotSupported, match="schemaVersion 1"):
        store.add_image(schema1)
    garbage = store.content.write(b"not json")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        store.add_image(garbage)
    manifest = kit.manifest_for(store, [kit.Layer().file("a").tobytes()])
    artifact = msgspec.json.decode(store.content.read(manifest.digest))
    artifact["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json"
    with pytest.raises(NotSupported, match="not an image"):
        store.add_image(store.content.write(msgspec.json.encode(artifact)))


def test_concurrent_adds_of_one_image_unpack_each_layer_once(
    store: ImageStore, kit: type[Kit]
) -> None:
    layers = [kit.Layer().file(f"f{n}", b"x" * 100_000).tobytes() for n in range(3)]
    manifest = kit.manifest_for(store, layers)
    results: list[Image | BaseException] = []

    def add(name: str) -> None:
        try:
            results.append(store.add_image(manifest, names=[name]))
        except BaseException as exc:  # pragma: no cover - reported below
            results.append(exc)

    threads = [threading.Thread(target=add, args=(f"app:{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(result, Image) for result in results), results
    assert len(store.snapshots.list()) == 3
    assert len(os.listdir(store.snapshots.root)) == 3
    assert len(store.resolve("app:0").names) == 6
