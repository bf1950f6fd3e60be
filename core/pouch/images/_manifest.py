"""The OCI image-spec documents the image store reads and writes.

Owns the msgspec structs of descriptors, manifests, indexes and the image
configuration document, with the spec's JSON names kept verbatim, plus the
media-type constants (OCI and Docker schema 2) and the host's platform. It must
not fetch or store anything: that is ``_content`` and ``_store``'s job.
"""

from __future__ import annotations

import hashlib
import platform as _platform
import re
from collections.abc import Sequence
from typing import Annotated

import msgspec

from pouch.oci.image import ImageConfig

__all__ = [
    "COMPRESSED_LAYER_TYPES",
    "CONFIG_TYPES",
    "DOCKER_CONFIG",
    "DOCKER_FOREIGN_LAYER",
    "DOCKER_LAYER",
    "DOCKER_LAYER_TAR",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_TYPES",
    "LAYER_TYPES",
    "MANIFEST_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "Descriptor",
    "Digest",
    "History",
    "ImageDocument",
    "Index",
    "Manifest",
    "Platform",
    "RootFS",
    "chain_ids",
    "host_platform",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_NONDIST_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Uncompressed: not in the schema 2 spec, but what containerd and ``docker load`` use for
# the plain layer.tar files of a docker-archive.
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
COMPRESSED_LAYER_TYPES = frozenset(
    {
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_NONDIST_LAYER + "+gzip",
        OCI_NONDIST_LAYER + "+zstd",
        DOCKER_LAYER,
        DOCKER_FOREIGN_LAYER,
    }
)
LAYER_TYPES = COMPRESSED_LAYER_TYPES | {OCI_LAYER, OCI_NONDIST_LAYER, DOCKER_LAYER_TAR}

# image-spec descriptor.md: algorithm ":" encoded; the store itself accepts sha256 only.
Digest = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")]


class _Doc(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base: tolerant of unknown fields, as documents come from any registry."""


class Platform(
    _Doc, kw_only=True, rename={"os_version": "os.version", "os_features": "os.features"}
):
    architecture: str
    os: str
    os_version: str = ""
    os_features: list[str] | None = None
    variant: str = ""
    features: list[str] | None = None


class Descriptor(_Doc, kw_only=True):
    mediaType: str
    digest: Digest
    size: Annotated[int, msgspec.Meta(ge=0)]
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    data: str = ""
    artifactType: str = ""
    platform: Platform | None = None


class Manifest(_Doc, kw_only=True):
    """An image manifest (OCI, or Docker schema 2 which has the same shape)."""

    schemaVersion: int
    mediaType: str = ""
    artifactType: str = ""
    config: Descriptor
    layers: list[Descriptor] = []
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class Index(_Doc, kw_only=True):
    """An image index (OCI) or manifest list (Docker): one manifest per platform."""

    schemaVersion: int
    mediaType: str = ""
    artifactType: str = ""
    manifests: list[Descriptor]
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class RootFS(_Doc, kw_only=True):
    type: str
    diff_ids: list[Digest]


class History(_Doc, kw_only=True):
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False


class ImageDocument(
    _Doc, kw_only=True, rename={"os_version": "os.version", "os_features": "os.features"}
):
    """The image configuration blob (``application/vnd.oci.image.config.v1+json``)."""

    created: str = ""
    author: str = ""
    architecture: str
    os: str
    os_version: str = ""
    os_features: list[str] | None = None
    variant: str = ""
    config: ImageConfig | None = None
    rootfs: RootFS
    history: list[History] | None = None


_ARCHES = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


def host_platform() -> Platform:
    """This machine as the image-spec names it (GOOS/GOARCH values)."""
    machine = _platform.machine().lower()
    arch, variant = _ARCHES.get(machine, (re.sub(r"[^a-z0-9]", "", machine), ""))
    return Platform(architecture=arch, os="linux", variant=variant)


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """Chain IDs of every layer prefix (image-spec config.md, "Layer ChainID")."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            text = f"{chains[-1]} {diff_id}".encode()
            chains.append(f"sha256:{hashlib.sha256(text).hexdigest()}")
    return chains
