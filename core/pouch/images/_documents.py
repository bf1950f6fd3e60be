"""Decoding and writing image-spec documents: manifests, indexes, configs.

Owns turning blob bytes into checked ``_manifest`` structs (bad input becomes
``InvalidArgument`` naming the blob, never a traceback), choosing a platform's
manifest from an index, and writing the config and manifest of a one-layer
image for ``import``. It must not fetch anything or touch the database.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from pouch.errors import InvalidArgument, NoSuchImage, NotSupported
from pouch.images._content import ContentStore
from pouch.images._manifest import (
    CONFIG_TYPES,
    INDEX_TYPES,
    LAYER_TYPES,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Descriptor,
    History,
    ImageDocument,
    Index,
    Manifest,
    Platform,
    RootFS,
    host_platform,
)
from pouch.oci.image import ImageConfig

__all__ = [
    "choose_manifest",
    "decode_config",
    "decode_manifest",
    "write_image",
    "write_single_layer",
]


class _Probe(msgspec.Struct):
    schemaVersion: int = 0
    mediaType: str = ""
    manifests: list[msgspec.Raw] | None = None


_T = TypeVar("_T")


def _decode(raw: bytes, kind: type[_T], what: str) -> _T:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"{what} is not a valid {kind.__name__}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"{what} is not valid JSON: {exc}") from None


def _matches(candidate: Platform | None, wanted: Platform) -> bool:
    if candidate is None:
        return False
    if (candidate.os, candidate.architecture) != (wanted.os, wanted.architecture):
        return False
    return not (candidate.variant and wanted.variant and candidate.variant != wanted.variant)


def choose_manifest(raw: bytes, top: Descriptor, platform: Platform | None) -> Descriptor:
    """``top`` itself if it is a manifest; else the index entry for ``platform``."""
    probe = _decode(raw, _Probe, f"manifest {top.digest}")
    if probe.schemaVersion != 2:
        raise NotSupported(f"manifest {top.digest} has schemaVersion {probe.schemaVersion}, not 2")
    if probe.mediaType not in INDEX_TYPES and probe.manifests is None:
        return top
    index = _decode(raw, Index, f"index {top.digest}")
    wanted = platform or host_platform()
    for entry in index.manifests:
        if _matches(entry.platform, wanted):
            return entry
    arch = "/".join(p for p in (wanted.os, wanted.architecture, wanted.variant) if p)
    raise NoSuchImage(f"{top.digest} for platform {arch}")


def decode_manifest(raw: bytes, digest: str) -> Manifest:
    """An image manifest whose config and layers this store can use."""
    manifest = _decode(raw, Manifest, f"manifest {digest}")
    if manifest.schemaVersion != 2:  # Docker schema 1 is deprecated and unsigned here
        raise NotSupported(f"manifest {digest} has schemaVersion {manifest.schemaVersion}, not 2")
    if manifest.config.mediaType not in CONFIG_TYPES:
        raise NotSupported(f"{digest} is not an image (config {manifest.config.mediaType})")
    for layer in manifest.layers:
        if layer.mediaType not in LAYER_TYPES:
            raise NotSupported(f"layer {layer.digest} has unsupported type {layer.mediaType}")
    return manifest


def decode_config(raw: bytes, manifest: Manifest) -> ImageDocument:
    """The image config, checked to have one diffID per layer of ``manifest``."""
    what = f"image config {manifest.config.digest}"
    document = _decode(raw, ImageDocument, what)
    if document.rootfs.type != "layers":
        raise InvalidArgument(f"{what}: rootfs type {document.rootfs.type!r} is not 'layers'")
    if len(document.rootfs.diff_ids) != len(manifest.layers):
        raise InvalidArgument(
            f"{what}: {len(document.rootfs.diff_ids)} diff_ids for "
            f"{len(manifest.layers)} layers in the manifest"
        )
    return document


def _layer_type(content: ContentStore, digest: str) -> str:
    with content.open(digest) as blob:
        head = blob.read(4)
    if head[:2] == b"\x1f\x8b":
        return OCI_LAYER_GZIP
    if head == b"\x28\xb5\x2f\xfd":
        return OCI_LAYER_ZSTD
    return OCI_LAYER


def write_single_layer(
    content: ContentStore,
    layer: str,
    diff_id: str,
    config: ImageConfig | None,
    created: str,
) -> Descriptor:
    """Write the config and manifest blobs of a one-layer image; the manifest's descriptor."""
    platform = host_platform()
    document = ImageDocument(
        created=created,
        architecture=platform.architecture,
        os=platform.os,
        variant=platform.variant,
        config=config or ImageConfig(),
        rootfs=RootFS(type="layers", diff_ids=[diff_id]),
        history=[History(created=created, created_by="pouch import", comment="imported")],
    )
    layers = [
        Descriptor(mediaType=_layer_type(content, layer), digest=layer, size=content.size(layer))
    ]
    return write_image(content, document, layers)


def write_image(
    content: ContentStore, document: ImageDocument, layers: list[Descriptor]
) -> Descriptor:
    """Write an image's config blob and its manifest over ``layers``; the manifest's descriptor."""
    config_bytes = msgspec.json.encode(document)
    config_digest = content.write(config_bytes)
    manifest = Manifest(
        schemaVersion=2,
        mediaType=OCI_MANIFEST,
        config=Descriptor(mediaType=OCI_CONFIG, digest=config_digest, size=len(config_bytes)),
        layers=layers,
    )
    manifest_bytes = msgspec.json.encode(manifest)
    digest = content.write(manifest_bytes)
    return Descriptor(mediaType=OCI_MANIFEST, digest=digest, size=len(manifest_bytes))
