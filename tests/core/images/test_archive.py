"""Saving images to tarballs and loading them back, as ``docker save``/``docker load``."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from pouch.errors import InvalidArgument, NoSuchImage
from pouch.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    Image,
    ImageStore,
    Manifest,
)
from pouch.store import Database

if TYPE_CHECKING:
    from tests.core.images.conftest import Kit

FORMATS = ["docker-archive", "oci-archive"]


def members(data: bytes) -> dict[str, bytes]:
    """Every regular file of a tar, by name."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isreg()
        }


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@pytest.fixture
def fresh() -> Iterator[ImageStore]:
    """A second, empty image store: where archives are loaded."""
    root = Path(tempfile.mkdtemp(prefix="p", dir="/tmp"))
    db = Database(root / "pouch.db")
    try:
        yield ImageStore(root, db)
    finally:
        db.close()
        shutil.rmtree(root, ignore_errors=True)


def app_image(store: ImageStore, kit: type[Kit], *names: str, marker: bytes = b"1") -> Image:
    """Two layers, the bottom one gzip-compressed (as pulled), the top one plain."""
    base = kit.Layer().dir("bin").file("bin/sh", b"#!/bin/true\n", 0o755).tobytes(compress=True)
    top = kit.Layer().dir("etc").file("etc/motd", marker).whiteout("bin/sh").tobytes()
    return store.add_image(kit.manifest_for(store, [base, top]), names=names)


def save(store: ImageStore, refs: list[str], format: Any = "docker-archive") -> bytes:
    out = io.BytesIO()
    store.save(refs, out, format=format)
    return out.getvalue()


@pytest.mark.parametrize("format", FORMATS)
def test_round_trip_into_a_fresh_store(
    store: ImageStore, fresh: ImageStore, kit: type[Kit], format: str
) -> None:
    image = app_image(store, kit, "example.com/app:1", "example.com/app:2")
    data = save(store, ["example.com/app:1", "example.com/app:2"], format)
    lines: list[str] = []
    loaded = fresh.load(io.BytesIO(data), progress=lines.append)
    assert [i.id for i in loaded] == [image.id]
    assert lines == ["Loaded image: example.com/app:1", "Loaded image: example.com/app:2"]
    again = fresh.resolve("example.com/app:2")
    assert again.id == image.id
    assert again.names == image.names == ["example.com/app:1", "example.com/app:2"]
    assert (again.diff_ids, again.chain_id, again.config) == (
        image.diff_ids,
        image.chain_id,
        image.config,
    )
    assert again.size == image.size and again.digests == []
    if format == "oci-archive":  # the stored blobs travel as they are
        assert (again.manifest, again.layers) == (image.manifest, image.layers)
    else:  # docker-archive layers are plain tar: their digests are the diffIDs
        assert again.layers == image.diff_ids
    # Only what the image uses is kept; loading once more changes nothing.
    assert set(fresh.content.list()) == {again.id, again.manifest, *again.layers}
    assert fresh.load(io.BytesIO(data)) == [again]
    assert set(fresh.content.list()) == {again.id, again.manifest, *again.layers}


def test_docker_archive_is_what_docker_save_writes(store: ImageStore, kit: type[Kit]) -> None:
    image = app_image(store, kit, "example.com/app:1", "example.com/app:2")
    files = members(save(store, ["example.com/app:2", "example.com/app:1"]))
    hexes = [d.removeprefix("sha256:") for d in image.diff_ids]
    # manifest.json, for every docker version's loader and podman's docker-archive.
    [entry] = json.loads(files["manifest.json"])
    assert entry["Config"] == f"blobs/sha256/{image.id.removeprefix('sha256:')}"
    assert entry["RepoTags"] == ["example.com/app:2", "example.com/app:1"]
    assert entry["Layers"] == [f"blobs/sha256/{h}" for h in hexes]
    assert sha256(files[entry["Config"]]) == image.id
    for path, diff_id in zip(entry["Layers"], image.diff_ids, strict=True):
        assert sha256(files[path]) == diff_id  # uncompressed, as layer.tar always was
        assert files[path][:2] != b"\x1f\x8b"
    assert json.loads(files["repositories"]) == {
        "example.com/app": {"1": hexes[-1], "2": hexes[-1]}
    }
    # The OCI layout beside it, as docker 25 writes it.
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    names = [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]
    assert names == ["example.com/app:2", "example.com/app:1"]
    digest = index["manifests"][0]["digest"]
    manifest = msgspec.json.decode(files[f"blobs/sha256/{digest[7:]}"], type=Manifest)
    assert manifest.mediaType == OCI_MANIFEST and manifest.config.digest == image.id
    assert [(layer.mediaType, layer.digest) for layer in manifest.layers] == [
        (OCI_LAYER, d) for d in image.diff_ids
    ]
    assert [layer.size for layer in manifest.layers] == [
        len(files[f"blobs/sha256/{h}"]) for h in hexes
    ]


def test_oci_archive_keeps_the_stored_blobs(store: ImageStore, kit: type[Kit]) -> None:
    image = app_image(store, kit, "example.com/app:1")
    files = members(save(store, ["example.com/app:1"], "oci-archive"))
    assert "manifest.json" not in files
    [entry] = json.loads(files["index.json"])["manifests"]
    assert entry["digest"] == image.manifest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "example.com/app:1"
    for digest in (image.manifest, image.id, *image.layers):
        assert files[f"blobs/sha256/{digest[7:]}"] == store.content.read(digest)
    assert files[f"blobs/sha256/{image.layers[0][7:]}"][:2] == b"\x1f\x8b"  # still gzip


def test_docker_manifest_is_converted_for_oci_archive(
    store: ImageStore, fresh: ImageStore, kit: type[Kit]
) -> None:
    oci = kit.manifest_for(store, [kit.Layer().file("a", b"1").tobytes(compress=True)])
    source = msgspec.json.decode(store.content.read(oci.digest), type=Manifest)
    docker = msgspec.structs.replace(
        source,
        mediaType=DOCKER_MANIFEST,
        config=msgspec.structs.replace(source.config, mediaType=DOCKER_CONFIG),
        layers=[msgspec.structs.replace(source.layers[0], mediaType=DOCKER_LAYER)],
    )
    raw = msgspec.json.encode(docker)
    descriptor = Descriptor(
        mediaType=DOCKER_MANIFEST, digest=store.content.write(raw), size=len(raw)
    )
    image = store.add_image(descriptor, names=["example.com/docker:1"])
    files = members(save(store, ["example.com/docker:1"], "oci-archive"))
    [entry] = json.loads(files["index.json"])["manifests"]
    manifest = msgspec.json.decode(files[f"blobs/sha256/{entry['digest'][7:]}"], type=Manifest)
    assert manifest.mediaType == OCI_MANIFEST and manifest.config.mediaType == OCI_CONFIG
    assert [(x.mediaType, x.digest) for x in manifest.layers] == [(OCI_LAYER_GZIP, image.layers[0])]
    [loaded] = fresh.load(io.BytesIO(gzip.compress(save(store, [image.id], "oci-archive"))))
    assert (loaded.id, loaded.layers, loaded.names) == (image.id, image.layers, [])


@pytest.mark.parametrize("format", FORMATS)
def test_several_images_in_one_archive(
    store: ImageStore, fresh: ImageStore, kit: type[Kit], format: str
) -> None:
    first = app_image(store, kit, "example.com/app:1", "example.com/app:2")
    second = app_image(store, kit, "example.com/other:1", marker=b"2")
    third = app_image(store, kit, "example.com/third:1", marker=b"3")
    refs = ["example.com/app:1", "example.com/other:1", third.id, "example.com/app:2", first.id]
    data = save(store, refs, format)
    lines: list[str] = []
    loaded = fresh.load(io.BytesIO(data), progress=lines.append)
    assert [i.id for i in loaded] == [first.id, second.id, third.id]
    assert [i.names for i in loaded] == [
        ["example.com/app:1", "example.com/app:2"],
        ["example.com/other:1"],
        [],  # saved by id: without a name, as docker does
    ]
    assert lines == [
        "Loaded image: example.com/app:1",
        "Loaded image: example.com/app:2",
        "Loaded image: example.com/other:1",
        f"Loaded image ID: {third.id}",
    ]
    # The base layer all three share is in the archive once.
    assert sum(1 for name in members(data) if name.startswith("blobs/")) == 3 + 3 + 1 + 3


def test_loading_an_image_the_store_has_keeps_it_and_moves_names(
    store: ImageStore, kit: type[Kit]
) -> None:
    image = app_image(store, kit, "example.com/app:1")
    data = save(store, ["example.com/app:1"])  # docker-archive: other layer blobs
    other = app_image(store, kit, "example.com/other:1", marker=b"2")
    store.tag(other.id, "example.com/app:1")
    blobs = set(store.content.list())
    [loaded] = store.load(io.BytesIO(data))
    assert (loaded.id, loaded.manifest, loaded.layers) == (image.id, image.manifest, image.layers)
    assert loaded.names == ["example.com/app:1"]
    assert store.resolve("example.com/other:1").names == ["example.com/other:1"]
    assert set(store.content.list()) == blobs  # the archive's plain layers were not kept


class _Pipe(io.RawIOBase):
    """Reads or writes only: no seek, no tell, as a socket or a pipe."""

    def __init__(self, data: bytes = b"") -> None:
        self._in = io.BytesIO(data)
        self.out = bytearray()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._in.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def write(self, data: Any) -> int:
        self.out += data
        return len(data)


@pytest.mark.parametrize("format", FORMATS)
def test_streams_without_seeking(
    store: ImageStore, fresh: ImageStore, kit: type[Kit], format: Any
) -> None:
    image = app_image(store, kit, "example.com/app:1")
    pipe = _Pipe()
    store.save(["example.com/app:1"], pipe, format=format)  # type: ignore[arg-type]
    assert bytes(pipe.out) == save(store, ["example.com/app:1"], format)  # reproducible
    [loaded] = fresh.load(_Pipe(gzip.compress(bytes(pipe.out))))  # type: ignore[arg-type]
    assert loaded.id == image.id and loaded.names == ["example.com/app:1"]


def test_save_refuses_unknown_images_and_formats(store: ImageStore, kit: type[Kit]) -> None:
    app_image(store, kit, "example.com/app:1")
    out = io.BytesIO()
    with pytest.raises(NoSuchImage):
        store.save(["example.com/app:1", "example.com/missing:1"], out)
    with pytest.raises(InvalidArgument, match="archive format"):
        store.save(["example.com/app:1"], out, format="tarball")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="nothing to save"):
        store.save([], out)
    assert out.getvalue() == b""
