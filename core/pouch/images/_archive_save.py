"""``save``: writing images to a docker-archive or an OCI image layout tarball.

Owns choosing what to save (the images ``refs`` name, under the names that
were asked for) and writing the tar as a stream. ``oci-archive`` is what
``podman save --format oci-archive`` writes: the stored blobs as they are
(Docker schema 2 manifests converted to OCI ones, which changes only the
manifest) and ``index.json`` entries named with ``org.opencontainers.image.ref.name``.
``docker-archive`` is what docker 25 writes, readable by old and new loaders
alike: ``manifest.json`` and ``repositories`` for the classic loaders beside
an OCI layout whose layers are the uncompressed tars those loaders expect.
Layers are copied in chunks, never held in memory. It must not read archives.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import tarfile
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, BinaryIO

import msgspec

from pouch.errors import InvalidArgument
from pouch.images import _documents as docs
from pouch.images._archive import (
    CONTAINERD_NAME,
    FORMATS,
    INDEX_JSON,
    LAYOUT_VERSION,
    MANIFEST_JSON,
    OCI_LAYOUT,
    REF_NAME,
    REPOSITORIES,
    ArchiveFormat,
    DockerEntry,
    OCILayout,
    blob_path,
    uncompressed_copy,
)
from pouch.images._lookup import lookup
from pouch.images._manifest import (
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_LAYER_TAR,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    OCI_NONDIST_LAYER,
    Descriptor,
    Index,
    Manifest,
)
from pouch.images._records import Image
from pouch.images._reference import parse_reference

if TYPE_CHECKING:
    from pouch.images._store import ImageStore

__all__ = ["save_archive"]

_TO_OCI = {
    DOCKER_CONFIG: OCI_CONFIG,
    DOCKER_LAYER: OCI_LAYER_GZIP,
    DOCKER_LAYER_TAR: OCI_LAYER,
    DOCKER_FOREIGN_LAYER: OCI_NONDIST_LAYER + "+gzip",
}


class _Saved:
    def __init__(self, image: Image) -> None:
        self.image = image
        self.names: list[str] = []


def _select(store: ImageStore, refs: Sequence[str]) -> list[_Saved]:
    """The images to save, each once, with the names ``refs`` gave them.

    As with ``docker save``, an image asked for by id or digest is saved without a name.
    """
    if not refs:
        raise InvalidArgument("nothing to save: give at least one image", field="refs")
    chosen: dict[str, _Saved] = {}
    for ref in refs:
        image, reference = lookup(store.table, ref)
        saved = chosen.setdefault(image.id, _Saved(image))
        name = reference.tagged if reference is not None else ""
        if name and name in image.names and name not in saved.names:
            saved.names.append(name)
    return list(chosen.values())


def save_archive(
    store: ImageStore, refs: Sequence[str], out: BinaryIO, format: ArchiveFormat
) -> list[Image]:
    """Write the images ``refs`` name to ``out`` as one tar; the images saved."""
    if format not in FORMATS:
        raise InvalidArgument(f"unknown archive format {format!r} (use one of {FORMATS})")
    items = _select(store, refs)
    keys = {d for item in items for d in (item.image.id, item.image.manifest, *item.image.layers)}
    mtime = int(max(item.image.created for item in items))
    with store.lease(*keys), _Writer(out, mtime) as writer:
        writer.dir("blobs/")
        writer.dir("blobs/sha256/")
        if format == "oci-archive":
            entries = [_save_oci(store, writer, item) for item in items]
        else:
            entries = [_save_docker(store, writer, item) for item in items]
            _write_docker_metadata(writer, items)
        manifests = list(itertools.chain.from_iterable(entries))
        index = Index(schemaVersion=2, mediaType=OCI_INDEX, manifests=manifests)
        writer.data(INDEX_JSON, msgspec.json.encode(index))
        writer.data(OCI_LAYOUT, msgspec.json.encode(OCILayout(imageLayoutVersion=LAYOUT_VERSION)))
    return [item.image for item in items]


def _index_entries(manifest: Descriptor, names: list[str]) -> list[Descriptor]:
    """One ``index.json`` entry per name (the full name in both annotations), or one bare."""
    if not names:
        return [manifest]
    return [
        msgspec.structs.replace(manifest, annotations={CONTAINERD_NAME: name, REF_NAME: name})
        for name in names
    ]


def _save_oci(store: ImageStore, writer: _Writer, item: _Saved) -> list[Descriptor]:
    image = item.image
    raw = store.content.read(image.manifest)
    manifest = docs.decode_manifest(raw, image.manifest)
    if manifest.mediaType != OCI_MANIFEST or manifest.config.mediaType != OCI_CONFIG:
        manifest = _as_oci(manifest)
        raw = msgspec.json.encode(manifest)
    for blob in (manifest.config, *manifest.layers):
        writer.blob(store, blob.digest)
    digest = writer.document(raw)
    descriptor = Descriptor(mediaType=OCI_MANIFEST, digest=digest, size=len(raw))
    return _index_entries(descriptor, item.names)


def _as_oci(manifest: Manifest) -> Manifest:
    """The OCI manifest of a Docker schema 2 one: the same blobs, OCI media types."""

    def convert(blob: Descriptor) -> Descriptor:
        return msgspec.structs.replace(blob, mediaType=_TO_OCI.get(blob.mediaType, blob.mediaType))

    return msgspec.structs.replace(
        manifest,
        mediaType=OCI_MANIFEST,
        config=convert(manifest.config),
        layers=[convert(layer) for layer in manifest.layers],
    )


def _save_docker(store: ImageStore, writer: _Writer, item: _Saved) -> list[Descriptor]:
    image = item.image
    writer.blob(store, image.id)
    layers = []
    for digest, diff_id in zip(image.layers, image.diff_ids, strict=True):
        size = writer.layer(store, digest, diff_id)
        layers.append(Descriptor(mediaType=OCI_LAYER, digest=diff_id, size=size))
    config = Descriptor(mediaType=OCI_CONFIG, digest=image.id, size=store.content.size(image.id))
    manifest = Manifest(schemaVersion=2, mediaType=OCI_MANIFEST, config=config, layers=layers)
    raw = msgspec.json.encode(manifest)
    digest = writer.document(raw)
    descriptor = Descriptor(mediaType=OCI_MANIFEST, digest=digest, size=len(raw))
    return _index_entries(descriptor, item.names)


def _write_docker_metadata(writer: _Writer, items: list[_Saved]) -> None:
    """``manifest.json`` and the legacy ``repositories`` (repository → tag → top layer).

    Names are written in full: docker normalises either form, while podman
    would put a familiar ``busybox:latest`` under ``localhost/``.
    """
    entries: list[DockerEntry] = []
    repositories: dict[str, dict[str, str]] = {}
    for item in items:
        image = item.image
        entries.append(
            DockerEntry(
                Config=blob_path(image.id),
                RepoTags=list(item.names),
                Layers=[blob_path(diff_id) for diff_id in image.diff_ids],
            )
        )
        for name in item.names:
            if image.diff_ids:
                ref = parse_reference(name)
                top = image.diff_ids[-1].removeprefix("sha256:")
                repositories.setdefault(ref.repository, {})[ref.tag] = top
    writer.data(MANIFEST_JSON, msgspec.json.encode(entries))
    writer.data(REPOSITORIES, msgspec.json.encode(repositories))


class _Writer:
    """A tar written as a stream to ``out``: fixed owners and times, each path once."""

    def __init__(self, out: BinaryIO, mtime: int) -> None:
        # Closed by __exit__, which must not write the end blocks after a failure.
        self._tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._mtime = mtime
        self._written: dict[str, int] = {}  # path → size

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self._tar.close()
        elif self._tar.fileobj is not None:
            # No end-of-archive blocks after a failure: readers must see a truncated
            # tar, never one that looks complete with images missing. Closing the
            # tar's stream flushes its buffer and leaves ``out`` open.
            self._tar.fileobj.close()

    def _info(self, path: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(path)
        info.type, info.mode, info.size, info.mtime = kind, mode, size, self._mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def dir(self, path: str) -> None:
        self._tar.addfile(self._info(path, tarfile.DIRTYPE, 0o755))

    def file(self, path: str, stream: IO[bytes], size: int) -> None:
        if path not in self._written:
            self._tar.addfile(self._info(path, tarfile.REGTYPE, 0o644, size), stream)
            self._written[path] = size

    def data(self, path: str, data: bytes) -> None:
        self.file(path, io.BytesIO(data), len(data))

    def document(self, raw: bytes) -> str:
        """Write a small blob (a manifest) made for this archive; its digest."""
        digest = f"sha256:{hashlib.sha256(raw).hexdigest()}"
        self.data(blob_path(digest), raw)
        return digest

    def blob(self, store: ImageStore, digest: str) -> None:
        """Copy the blob ``digest`` from the content store, as it is."""
        if blob_path(digest) not in self._written:
            with store.content.open(digest) as stream:
                self.file(blob_path(digest), stream, store.content.size(digest))

    def layer(self, store: ImageStore, digest: str, diff_id: str) -> int:
        """Write layer ``digest`` uncompressed as ``blobs/sha256/<diffID>``; its size."""
        path = blob_path(diff_id)
        if path in self._written:  # another image of the archive shares it
            return self._written[path]
        if digest == diff_id:  # stored uncompressed already
            self.blob(store, digest)
            return self._written[path]
        with uncompressed_copy(store.content, digest, store.root) as (spool, actual):
            if actual != diff_id:
                raise InvalidArgument(f"layer {digest} has diffID {actual}, not {diff_id}")
            size = spool.seek(0, io.SEEK_END)
            spool.seek(0)
            self.file(path, spool, size)
        return size
