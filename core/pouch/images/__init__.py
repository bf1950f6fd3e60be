"""Images: the content store, overlayfs snapshots, and the image records that tie them.

``ImageStore`` is the entry point: it imports rootfs tarballs, records images
from manifests (the future registry client and ``load`` plug in through
``BlobSource`` and ``ImageStore.add_image``), saves and loads image archives
(docker-archive and OCI layout tarballs), resolves references with docker's
rules and prepares container root filesystems as mount descriptions. Everything
here is blocking file and database work; the engine calls it through
``anyio.to_thread.run_sync``. This package must not speak HTTP nor mount
anything itself.
"""

from __future__ import annotations

from pouch.images._archive import ArchiveFormat
from pouch.images._content import BlobSource, ContentStore, check_digest
from pouch.images._documents import write_image
from pouch.images._gc import Collected
from pouch.images._layers import LayerInfo, apply_layer
from pouch.images._lookup import Removal
from pouch.images._manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_TAR,
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
    Platform,
    RootFS,
    chain_ids,
    host_platform,
)
from pouch.images._records import Image
from pouch.images._reference import Reference, parse_reference
from pouch.images._snapshots import Snapshot, Snapshotter, Usage
from pouch.images._store import ImageStore

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_LAYER_TAR",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "ArchiveFormat",
    "BlobSource",
    "Collected",
    "ContentStore",
    "Descriptor",
    "History",
    "Image",
    "ImageDocument",
    "ImageStore",
    "Index",
    "LayerInfo",
    "Manifest",
    "Platform",
    "Reference",
    "Removal",
    "RootFS",
    "Snapshot",
    "Snapshotter",
    "Usage",
    "apply_layer",
    "chain_ids",
    "check_digest",
    "host_platform",
    "parse_reference",
    "write_image",
]
