"""Push-ready test images, built offline from busybox, and pushing them to a registry.

``TestImage`` is an image as a registry holds it: the top manifest (or index)
bytes and every blob by digest. The builders make the shapes the registry
tests need: one layer (OCI or Docker schema 2), several layers with
whiteouts, a zstd-compressed layer, a multi-platform index (amd64 and arm64),
and 100+ layers. Every build is deterministic, so the same call gives the
same digests. ``push_test_image`` / ``push_image_to_registry`` upload one with
``pouch.distribution``'s client. They are also reachable as
``pouch.testing.images.<name>``. This module must not start registries.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
from collections.abc import Sequence

import msgspec

from pouch.config import RegistrySettings
from pouch.distribution import Registries, RegistryClient
from pouch.distribution._platforms import parse_platform
from pouch.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Descriptor,
    History,
    ImageDocument,
    Index,
    Manifest,
    RootFS,
)
from pouch.oci.image import ImageConfig
from pouch.testing.images import BUSYBOX_CONFIG, LayerBuilder, busybox_layer

__all__ = [
    "WHITEOUT_DATA",
    "TestImage",
    "busybox_layer_bytes",
    "image_from_layers",
    "many_layers_image",
    "multi_platform_image",
    "push_image_to_registry",
    "push_test_image",
    "single_layer_image",
    "whiteout_image",
    "zstd_image",
]

CREATED = "2000-01-01T00:00:00Z"
# What /data holds in ``whiteout_image``'s rootfs: the opaque dir hides the rest.
WHITEOUT_DATA = {"new"}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class TestImage(msgspec.Struct, kw_only=True):
    """A manifest or index, the blobs it needs and, for an index, its manifests."""

    __test__ = False  # not a pytest test class

    manifest: bytes
    media_type: str
    blobs: dict[str, bytes] = {}
    children: list[TestImage] = []

    @property
    def digest(self) -> str:
        return _digest(self.manifest)

    def descriptor(self) -> Descriptor:
        return Descriptor(mediaType=self.media_type, digest=self.digest, size=len(self.manifest))


@functools.lru_cache(maxsize=4)
def busybox_layer_bytes(compression: str = "gzip") -> bytes:
    """The busybox rootfs layer: ``"gzip"``, ``"zstd"`` or ``""`` (plain tar)."""
    return _compress(busybox_layer().tobytes(), compression)


def _compress(tar: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(tar, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(tar)
    return tar


def _uncompressed(layer: bytes) -> tuple[bytes, str]:
    """The layer's tar and its OCI media type, by its magic bytes."""
    if layer[:2] == b"\x1f\x8b":
        return gzip.decompress(layer), OCI_LAYER_GZIP
    if layer[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().decompress(layer), OCI_LAYER_ZSTD
    return layer, OCI_LAYER


def image_from_layers(
    layers: Sequence[bytes],
    config: ImageConfig | None = None,
    *,
    platform: str = "linux/amd64",
    docker: bool = False,
) -> TestImage:
    """An image of ``layers`` (tar bytes, plain, gzip or zstd; bottom first).

    ``docker`` writes a Docker schema 2 manifest (gzip layers get Docker's
    media type); otherwise an OCI manifest.
    """
    target = parse_platform(platform)
    assert target is not None
    blobs: dict[str, bytes] = {}
    descriptors, diff_ids = [], []
    for layer in layers:
        tar, media_type = _uncompressed(layer)
        if docker and media_type == OCI_LAYER_GZIP:
            media_type = DOCKER_LAYER
        diff_ids.append(_digest(tar))
        blobs[_digest(layer)] = layer
        descriptors.append(Descriptor(mediaType=media_type, digest=_digest(layer), size=len(layer)))
    document = ImageDocument(
        created=CREATED,
        architecture=target.architecture,
        os=target.os,
        variant=target.variant,
        config=config or BUSYBOX_CONFIG,
        rootfs=RootFS(type="layers", diff_ids=diff_ids),
        history=[History(created=CREATED, created_by=f"layer {n}") for n in range(len(layers))],
    )
    raw_config = msgspec.json.encode(document)
    blobs[_digest(raw_config)] = raw_config
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = Manifest(
        schemaVersion=2,
        mediaType=media_type,
        config=Descriptor(
            mediaType=DOCKER_CONFIG if docker else OCI_CONFIG,
            digest=_digest(raw_config),
            size=len(raw_config),
        ),
        layers=descriptors,
    )
    return TestImage(manifest=msgspec.json.encode(manifest), media_type=media_type, blobs=blobs)


def single_layer_image(*, docker: bool = False, platform: str = "linux/amd64") -> TestImage:
    """busybox in one gzip layer."""
    return image_from_layers([busybox_layer_bytes()], docker=docker, platform=platform)


def whiteout_image() -> TestImage:
    """Three layers: busybox; files in /etc, /data, /opt; then deletions.

    The top layer whites out ``/etc/motd`` and ``/opt/gone``, makes ``/data``
    opaque and adds ``/data/new``: the rootfs has busybox's files, an empty
    ``/opt``, no ``/etc/motd``, and ``/data`` holds exactly ``WHITEOUT_DATA``.
    """
    middle = (
        LayerBuilder()
        .file("etc/motd", b"hello\n")
        .file("data/keep", b"k\n")
        .file("data/old/x", b"x\n")
        .file("opt/gone/file", b"g\n")
    )
    top = LayerBuilder().whiteout("etc/motd").whiteout("opt/gone").opaque("data")
    top.file("data/new", b"n\n")
    return image_from_layers([busybox_layer_bytes(), middle.tobytes(compress=True), top.tobytes()])


def zstd_image() -> TestImage:
    """busybox in one zstd-compressed layer, plus a small zstd layer with ``/zstd``."""
    marker = _compress(LayerBuilder().file("zstd", b"zstd layer\n").tobytes(), "zstd")
    return image_from_layers([busybox_layer_bytes("zstd"), marker])


def multi_platform_image(
    platforms: Sequence[str] = ("linux/amd64", "linux/arm64/v8"), *, docker: bool = False
) -> TestImage:
    """An index (or Docker manifest list) with one busybox image per platform.

    Each image has ``/etc/platform`` naming its platform (the binaries are
    this host's busybox: these images are for unpacking, not for running).
    """
    children: list[TestImage] = []
    entries: list[Descriptor] = []
    for name in platforms:
        marker = LayerBuilder().file("etc/platform", f"{name}\n".encode()).tobytes(compress=True)
        child = image_from_layers([busybox_layer_bytes(), marker], platform=name, docker=docker)
        children.append(child)
        entry = child.descriptor()
        entry.platform = parse_platform(name)
        entries.append(entry)
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    index = Index(schemaVersion=2, mediaType=media_type, manifests=entries)
    return TestImage(manifest=msgspec.json.encode(index), media_type=media_type, children=children)


def many_layers_image(count: int = 105) -> TestImage:
    """busybox plus ``count - 1`` small layers, each adding ``/layers/NNN``."""
    layers = [busybox_layer_bytes()]
    for n in range(1, count):
        layers.append(LayerBuilder().file(f"layers/{n:03d}", f"{n}\n".encode()).tobytes())
    return image_from_layers(layers)


# -- pushing -------------------------------------------------------------------


def _push(client: RegistryClient, repo: str, image: TestImage, reference: str) -> str:
    for child in image.children:
        _push(client, repo, child, child.digest)
    for digest, data in image.blobs.items():
        if not client.blob_exists(repo, digest):
            location = client.start_upload(repo)
            if location is not None:
                client.upload(repo, location, digest, len(data), io.BytesIO(data))
    return client.put_manifest(repo, reference, image.manifest, image.media_type)


def push_test_image(
    address: str,
    name: str,
    image: TestImage,
    *,
    tag: str = "latest",
    credentials: tuple[str, str] | None = None,
    insecure: bool = False,
) -> str:
    """Upload ``image`` to ``address`` (``127.0.0.1:PORT``) as ``name:tag``; its digest.

    ``insecure``: plain HTTP beyond loopback too (a registry in a test's namespace)."""
    settings = RegistrySettings(insecure=[address]) if insecure else None
    registries = Registries(settings, credentials=lambda registry: credentials)
    return _push(registries.client(address), name, image, tag)


def push_image_to_registry(
    address: str,
    name: str,
    layers: Sequence[bytes],
    config: ImageConfig | None = None,
    *,
    tag: str = "latest",
    platform: str = "linux/amd64",
    credentials: tuple[str, str] | None = None,
) -> str:
    """Build an image of ``layers`` and ``config``, push it as ``name:tag``; its digest."""
    image = image_from_layers(layers, config, platform=platform)
    return push_test_image(address, name, image, tag=tag, credentials=credentials)
