"""Image archives, the parts both directions share: formats, paths, layer streams.

An image archive is a tar of one or more images: ``docker-archive`` (what
``docker save`` writes: ``manifest.json`` listing ``Config``, ``RepoTags`` and
``Layers`` paths, plus since docker 25 an OCI image layout beside it) or
``oci-archive`` (an OCI image layout: ``oci-layout``, ``index.json`` and
``blobs/sha256/``). This module owns the archive-only documents, the rules that
keep every archive path inside the archive, the annotations that name images
and turning a layer blob into its uncompressed tar. Writing archives is
``_archive_save``'s job, reading them ``_archive_read``'s, and recording what
was read as images ``_archive_load``'s. Blocking file work only.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

import msgspec

from pouch.errors import InvalidArgument
from pouch.images._content import ContentStore, check_digest
from pouch.images._streams import decompressed

__all__ = [
    "CONTAINERD_NAME",
    "FORMATS",
    "INDEX_JSON",
    "LAYOUT_VERSION",
    "MANIFEST_JSON",
    "METADATA",
    "OCI_LAYOUT",
    "REF_NAME",
    "REPOSITORIES",
    "ArchiveFormat",
    "DockerEntry",
    "OCILayout",
    "Progress",
    "archive_error",
    "blob_path",
    "clean_path",
    "compression",
    "diff_id_of",
    "link_target",
    "uncompressed_copy",
]

ArchiveFormat = Literal["docker-archive", "oci-archive"]
FORMATS: tuple[ArchiveFormat, ...] = ("docker-archive", "oci-archive")
# Told one line per loaded image name: "Loaded image: docker.io/library/busybox:latest".
Progress = Callable[[str], None]

MANIFEST_JSON = "manifest.json"
INDEX_JSON = "index.json"
OCI_LAYOUT = "oci-layout"
REPOSITORIES = "repositories"
# Top-level files read into memory rather than into the content store.
METADATA = frozenset({MANIFEST_JSON, INDEX_JSON, OCI_LAYOUT, REPOSITORIES})
LAYOUT_VERSION = "1.0.0"

# image-spec annotations.md; podman puts the full name here, docker 25 only the tag.
REF_NAME = "org.opencontainers.image.ref.name"
# containerd's (and docker 25's) full image name of an index.json entry.
CONTAINERD_NAME = "io.containerd.image.name"

_CHUNK = 1 << 20


class DockerEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One image of ``manifest.json``; paths are relative to the archive's root.

    Unknown fields (``Parent``, ``LayerSources``) are tolerated on reading.
    """

    Config: str
    RepoTags: list[str] | None = None
    Layers: list[str] = []


class OCILayout(msgspec.Struct, kw_only=True):
    imageLayoutVersion: str


def archive_error(name: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid image archive: entry {name!r}: {why}")


def blob_path(digest: str) -> str:
    """``blobs/sha256/<hex>``: where an OCI image layout keeps the blob."""
    return f"blobs/sha256/{check_digest(digest)}"


def clean_path(name: str) -> str:
    """The archive path of a tar entry, ``./a//b/`` → ``a/b``; refuses to leave the archive.

    An absolute name or a ``..`` component anywhere is refused outright rather
    than normalised away: no well-formed archive has one.
    """
    if name.startswith("/") or "\\" in name or "\0" in name:
        raise archive_error(name, "the path is absolute or malformed")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise archive_error(name, "the path leaves the archive ('..')")
    return "/".join(parts)


def link_target(path: str, linkname: str, *, hard: bool) -> str:
    """The archive path a link entry at ``path`` points to; refuses targets outside.

    A symlink's target is relative to its directory (``<id>/layer.tar ->
    ../<diffid>.tar``, as podman writes); a hard link's is archive-relative.
    """
    if linkname.startswith("/"):
        raise archive_error(path, f"the link target {linkname!r} is absolute")
    base = "" if hard else posixpath.dirname(path)
    target = posixpath.normpath(posixpath.join(base, linkname))
    if target in (".", "..") or target.startswith("../"):
        raise archive_error(path, f"the link target {linkname!r} leaves the archive")
    return target


def compression(content: ContentStore, digest: str) -> Literal["tar", "gzip", "zstd"]:
    """How a layer blob is compressed, from its first bytes."""
    with content.open(digest) as blob:
        head = blob.read(4)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "tar"


def _inflate(content: ContentStore, digest: str, sink: IO[bytes] | None) -> str:
    hasher = hashlib.sha256()
    with content.open(digest) as blob:
        stream = decompressed(blob)
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
            if sink is not None:
                sink.write(chunk)
    return f"sha256:{hasher.hexdigest()}"


def diff_id_of(content: ContentStore, digest: str) -> str:
    """The diffID of layer ``digest``: the sha256 of its uncompressed tar."""
    return _inflate(content, digest, None)


@contextmanager
def uncompressed_copy(
    content: ContentStore, digest: str, workdir: Path
) -> Iterator[tuple[IO[bytes], str]]:
    """The layer ``digest`` as an uncompressed tar in an anonymous file under ``workdir``.

    Yields the file, rewound, and the sha256 of its content, which is the
    layer's diffID. A file, not memory: layers are large.
    """
    with tempfile.TemporaryFile(dir=workdir) as spool:
        diff_id = _inflate(content, digest, spool)
        spool.seek(0)
        yield spool, diff_id
