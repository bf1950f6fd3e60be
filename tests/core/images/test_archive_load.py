"""Loading archives other tools write, and refusing crafted ones without a trace."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec
import pytest

from pouch.errors import InvalidArgument
from pouch.images import (
    DOCKER_LAYER,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    OCI_INDEX,
    Descriptor,
    ImageDocument,
    ImageStore,
    Index,
    Manifest,
    Platform,
    RootFS,
    host_platform,
)
from pouch.store import Database

if TYPE_CHECKING:
    from tests.core.images.conftest import Kit


class Sym(NamedTuple):
    target: str


class Hard(NamedTuple):
    target: str


class Device(NamedTuple):
    major: int
    minor: int


Value = bytes | Sym | Hard | Device
Entries = list[tuple[str, Value]]


def tar(entries: Entries) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as out:
        for name, value in entries:
            info = tarfile.TarInfo(name)
            if isinstance(value, bytes):
                info.size = len(value)
                out.addfile(info, io.BytesIO(value))
            elif isinstance(value, Device):
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, *value
                out.addfile(info)
            else:
                info.type = tarfile.SYMTYPE if isinstance(value, Sym) else tarfile.LNKTYPE
                info.linkname = value.target
                out.addfile(info)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def config_for(*layers: bytes) -> bytes:
    platform = host_platform()
    rootfs = RootFS(type="layers", diff_ids=[sha256(layer) for layer in layers])
    document = ImageDocument(architecture=platform.architecture, os=platform.os, rootfs=rootfs)
    return msgspec.json.encode(document)


def oci_layout(store: ImageStore, images: list[tuple[Descriptor, dict[str, str]]]) -> Entries:
    """The entries of an OCI layout holding ``images`` (manifests in ``store``) and their blobs."""
    entries: dict[str, bytes] = {}

    def add(digest: str) -> bytes:
        data = store.content.read(digest)
        entries[f"blobs/sha256/{digest[7:]}"] = data
        return data

    for descriptor, _ in images:
        manifest = msgspec.json.decode(add(descriptor.digest), type=Manifest)
        for blob in (manifest.config, *manifest.layers):
            add(blob.digest)
    index = Index(
        schemaVersion=2,
        manifests=[msgspec.structs.replace(d, annotations=a or None) for d, a in images],
    )
    return [
        ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
        ("index.json", msgspec.json.encode(index)),
        *entries.items(),
    ]


@pytest.fixture
def fresh() -> Iterator[ImageStore]:
    root = Path(tempfile.mkdtemp(prefix="p", dir="/tmp"))
    db = Database(root / "pouch.db")
    try:
        yield ImageStore(root, db)
    finally:
        db.close()
        shutil.rmtree(root, ignore_errors=True)


def state(store: ImageStore) -> tuple[list[str], list[tuple[str, list[str]]], list[str]]:
    """Everything a load could leave behind: blobs, images with names, snapshots."""
    return (
        store.content.list(),
        [(image.id, image.names) for image in store.list()],
        sorted(snapshot.key for snapshot in store.snapshots.list()),
    )


# -- what other tools write ---------------------------------------------------------


def test_podman_docker_archive_with_symlinked_layers(fresh: ImageStore, kit: type[Kit]) -> None:
    layer = kit.Layer().dir("bin").file("bin/sh", b"#!/bin/true\n", 0o755).tobytes()
    config = config_for(layer)
    diff, cfg, v1 = sha256(layer)[7:], sha256(config)[7:], "ab" * 32
    manifest = [
        {"Config": f"{cfg}.json", "RepoTags": ["localhost/app:1"], "Layers": [f"{v1}/layer.tar"]}
    ]
    archive = tar(
        [
            (f"{diff}.tar", layer),
            (f"{cfg}.json", config),
            (f"{v1}/layer.tar", Sym(f"../{diff}.tar")),
            (f"{v1}/VERSION", b"1.0"),
            (f"{v1}/json", b'{"id": "%s"}' % v1.encode()),
            ("manifest.json", json.dumps(manifest).encode()),
            ("repositories", json.dumps({"localhost/app": {"1": v1}}).encode()),
        ]
    )
    [image] = fresh.load(io.BytesIO(archive))
    assert (image.id, image.names, image.diff_ids) == (
        f"sha256:{cfg}",
        ["localhost/app:1"],
        [f"sha256:{diff}"],
    )
    made = msgspec.json.decode(fresh.content.read(image.manifest), type=Manifest)
    assert made.mediaType == DOCKER_MANIFEST
    assert [(x.mediaType, x.digest, x.size) for x in made.layers] == [
        (DOCKER_LAYER_TAR, f"sha256:{diff}", len(layer))
    ]
    # VERSION and json were stored while reading, and dropped as nothing uses them.
    assert set(fresh.content.list()) == {image.id, image.manifest, f"sha256:{diff}"}


def test_old_docker_archive_with_a_gzip_layer(fresh: ImageStore, kit: type[Kit]) -> None:
    layer = kit.Layer().file("hello", b"world").tobytes()
    config, zipped = config_for(layer), gzip.compress(layer)
    manifest = [{"Config": "cfg.json", "RepoTags": ["busybox:latest"], "Layers": ["x/layer.tar"]}]
    archive = tar(
        [
            ("x/layer.tar", zipped),
            ("cfg.json", config),
            ("manifest.json", json.dumps(manifest).encode()),
        ]
    )
    [image] = fresh.load(io.BytesIO(archive))
    assert image.names == ["docker.io/library/busybox:latest"]
    assert image.layers == [sha256(zipped)] and image.diff_ids == [sha256(layer)]
    made = msgspec.json.decode(fresh.content.read(image.manifest), type=Manifest)
    assert made.layers[0].mediaType == DOCKER_LAYER


def test_names_from_index_annotations(store: ImageStore, fresh: ImageStore, kit: type[Kit]) -> None:
    one = kit.manifest_for(store, [kit.Layer().file("a", b"1").tobytes()])
    two = kit.manifest_for(store, [kit.Layer().file("a", b"2").tobytes()])
    three = kit.manifest_for(store, [kit.Layer().file("a", b"3").tobytes()])
    entries = oci_layout(
        store,
        [
            # docker 25: the full name for containerd, the tag alone as ref.name
            (
                one,
                {
                    "io.containerd.image.name": "docker.io/library/app:1",
                    "org.opencontainers.image.ref.name": "1",
                },
            ),
            (two, {"org.opencontainers.image.ref.name": "localhost/app:2"}),  # podman
            (three, {"org.opencontainers.image.ref.name": "latest"}),  # skopeo: a tag, no name
        ],
    )
    lines: list[str] = []
    images = fresh.load(io.BytesIO(tar(entries)), progress=lines.append)
    assert [i.names for i in images] == [["docker.io/library/app:1"], ["localhost/app:2"], []]
    assert lines[-1] == f"Loaded image ID: {images[2].id}"


def test_an_image_index_loads_the_host_platform(
    store: ImageStore, fresh: ImageStore, kit: type[Kit]
) -> None:
    here = kit.manifest_for(store, [kit.Layer().file("here", b"1").tobytes()])
    there = Descriptor(mediaType=here.mediaType, digest="sha256:" + "0" * 64, size=1)
    platforms = [(there, Platform(architecture="s390x", os="linux")), (here, host_platform())]
    index = Index(
        schemaVersion=2,
        mediaType=OCI_INDEX,
        manifests=[msgspec.structs.replace(d, platform=p) for d, p in platforms],
    )
    raw = msgspec.json.encode(index)
    top = Descriptor(mediaType=OCI_INDEX, digest=store.content.write(raw), size=len(raw))
    entries = oci_layout(store, [(here, {})])[2:]  # blobs of the host's image only, as docker saves
    entries += [
        ("index.json", msgspec.json.encode(Index(schemaVersion=2, manifests=[top]))),
        (f"blobs/sha256/{top.digest[7:]}", raw),
    ]
    [image] = fresh.load(io.BytesIO(tar(entries)))
    assert image.manifest == here.digest


# -- refused, and nothing left ------------------------------------------------------


def valid(store: ImageStore, kit: type[Kit]) -> Entries:
    return oci_layout(
        store, [(kit.manifest_for(store, [kit.Layer().file("a", b"1").tobytes()]), {})]
    )


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (("../evil", b"x"), "leaves the archive"),
        (("blobs/../../evil", b"x"), "leaves the archive"),
        (("/tmp/evil", b"x"), "absolute"),
        (("link", Sym("../../etc/passwd")), "leaves the archive"),
        (("link", Sym("/etc/passwd")), "absolute"),
        (("link", Hard("../evil")), "leaves the archive"),
    ],
)
def test_paths_outside_the_archive_are_refused(
    store: ImageStore, fresh: ImageStore, kit: type[Kit], entry: tuple[str, Value], error: str
) -> None:
    before = state(fresh)
    # Last, so the blobs before it were already stored and must be cleaned up.
    with pytest.raises(InvalidArgument, match=rf"entry {re.escape(repr(entry[0]))}: .*{error}"):
        fresh.load(io.BytesIO(tar([*valid(store, kit), entry])))
    assert state(fresh) == before


def test_a_device_node_entry_is_refused(
    store: ImageStore, fresh: ImageStore, kit: type[Kit]
) -> None:
    with pytest.raises(InvalidArgument, match="'dev/null': not a regular file"):
        fresh.load(io.BytesIO(tar([*valid(store, kit), ("dev/null", Device(1, 3))])))
    assert state(fresh) == ([], [], [])


def test_a_digest_mismatch_is_refused(store: ImageStore, fresh: ImageStore, kit: type[Kit]) -> None:
    entries = valid(store, kit)
    name, data = entries[-1]
    assert isinstance(data, bytes)
    entries[-1] = (name, data + b"tampered")
    with pytest.raises(InvalidArgument, match=rf"entry '{name}': digest mismatch"):
        fresh.load(io.BytesIO(tar(entries)))
    assert state(fresh) == ([], [], [])


def test_a_layer_that_does_not_match_its_diff_id_is_refused(
    fresh: ImageStore, kit: type[Kit]
) -> None:
    layer, other = kit.Layer().file("a", b"1").tobytes(), kit.Layer().file("a", b"2").tobytes()
    manifest = [{"Config": "c.json", "RepoTags": ["app:1"], "Layers": ["l.tar"]}]
    archive = tar(
        [
            ("l.tar", other),
            ("c.json", config_for(layer)),
            ("manifest.json", json.dumps(manifest).encode()),
        ]
    )
    with pytest.raises(InvalidArgument, match=r"layer 'l\.tar' has diffID"):
        fresh.load(io.BytesIO(archive))
    assert state(fresh) == ([], [], [])


@pytest.mark.parametrize(
    ("cut", "error"),
    [
        (lambda data: data[: len(data) // 2], "not a readable tar"),
        (lambda data: b"not a tar at all" * 100, "not a readable tar"),
        (lambda data: tar([("hello", b"world")]), "neither manifest.json"),
        (
            lambda data: tar([(n, d) for n, d in tar_entries(data) if "index" in n]),
            "not in the archive",
        ),
    ],
)
def test_broken_archives_are_refused(
    store: ImageStore, fresh: ImageStore, kit: type[Kit], cut: Callable[[bytes], bytes], error: str
) -> None:
    with pytest.raises(InvalidArgument, match=error):
        fresh.load(io.BytesIO(cut(tar(valid(store, kit)))))
    assert state(fresh) == ([], [], [])


def tar_entries(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return [(m.name, archive.extractfile(m).read()) for m in archive.getmembers() if m.isreg()]  # type: ignore[union-attr]


def test_a_failure_undoes_the_whole_load(
    store: ImageStore, fresh: ImageStore, kit: type[Kit], tmp_path: Path
) -> None:
    """A bad image after a good one: the good one is not kept, the name goes back."""
    previous = fresh.import_rootfs(
        io.BytesIO(kit.Layer().file("old", b"0").tobytes()), "example.com/app:1"
    )
    before = state(fresh)
    good = kit.manifest_for(store, [kit.Layer().file("a", b"1").tobytes()])
    bad = kit.manifest_for(store, [kit.Layer().file("a", b"2").file("../evil", b"x").tobytes()])
    names = [
        {"io.containerd.image.name": "example.com/app:1"},
        {"io.containerd.image.name": "example.com/bad:1"},
    ]
    archive = tar(oci_layout(store, list(zip([good, bad], names, strict=True))))
    with pytest.raises(InvalidArgument, match="evil"):
        fresh.load(io.BytesIO(archive))
    assert state(fresh) == before
    assert fresh.resolve("example.com/app:1").id == previous.id
    assert not (fresh.root.parent / "evil").exists()
