"""``ImageStore``: images recorded from manifests, unpacked into snapshots, named.

Owns the image path of the core: recording an image from a manifest already in
(or fetched into) the content store, ``docker import`` of a rootfs tarball,
resolving references, docker's untag-then-delete semantics, and collecting
unreferenced blobs and snapshots. Blobs arrive only through a ``BlobSource``;
this module must not speak HTTP or know registries. Every method is blocking
(file and database work): the engine calls them through ``anyio.to_thread``.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import msgspec

from pouch.drivers import Mount
from pouch.errors import InvalidArgument, NoSuchObject
from pouch.images import _documents as docs
from pouch.images._archive import ArchiveFormat, Progress
from pouch.images._archive_load import load_archive
from pouch.images._archive_save import save_archive
from pouch.images._content import BlobSource, ContentStore
from pouch.images._gc import Collected, collect
from pouch.images._layers import LayerInfo, apply_layer
from pouch.images._lookup import Removal, lookup, remove_image
from pouch.images._manifest import Descriptor, Platform, chain_ids
from pouch.images._records import Image, ImageTable, image_from
from pouch.images._reference import Reference, parse_reference
from pouch.images._snapshots import Snapshotter
from pouch.oci.image import ImageConfig
from pouch.store import Database
from pouch.userns import IdMap

__all__ = ["ImageStore"]


def _never_in_use(image_id: str) -> bool:
    return False


def _every_image(image: Image) -> bool:
    return True


class ImageStore:
    """Images under ``root`` (``blobs/``, ``snapshots/``), metadata in ``db``.

    Keep ``root`` short: overlay mount options list every layer's directory
    and must fit in one page (about 120 layers under ``/var/lib/pouch``).
    Thread-safe within one process.
    """

    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self._lock = threading.RLock()
        self.content = ContentStore(root)
        self.snapshots = Snapshotter(root, db, self._lock)
        self.table = ImageTable(db, self._lock)
        self._pins: Counter[str] = Counter()
        self._leases: list[float] = []  # start times of the open leases

    @contextmanager
    def lease(self, *keys: str) -> Iterator[None]:
        """Keep blobs and snapshots ``keys`` from ``gc`` while the block runs.

        Whatever is written while a lease is open (blobs, committed snapshots)
        is kept too, so a registry client can write a manifest and then call
        ``add_image`` inside one lease without racing a concurrent ``gc``.
        """
        # Less a second: file timestamps come from a coarse clock.
        started = time.time() - 1.0
        with self._lock:
            self._pins.update(keys)
            self._leases.append(started)
        try:
            yield
        finally:
            with self._lock:
                self._pins.subtract(keys)
                self._pins += Counter()  # drop the zero counts
                self._leases.remove(started)

    # -- adding images -------------------------------------------------------

    def add_image(
        self,
        manifest: str | Descriptor,
        *,
        names: Iterable[str] = (),
        source: BlobSource | None = None,
        platform: Platform | None = None,
        record_digest: bool = True,
    ) -> Image:
        """Record the image of ``manifest`` (blocking): the entry of pull and load.

        ``manifest`` is a digest already in the content store or a descriptor;
        an index (manifest list) picks ``platform`` (default: this host's). Any
        blob missing from the store is fetched from ``source`` and verified,
        every layer missing from the snapshots is unpacked, then the image is
        recorded with ``names`` (tagged references; ``repo@digest`` names and,
        with ``record_digest``, each name's repository get a digest entry).
        """
        refs = [parse_reference(name) for name in names]
        if isinstance(manifest, Descriptor):
            top = manifest
        else:
            top = Descriptor(mediaType="", digest=manifest, size=self.content.size(manifest))
        with self.lease(top.digest):
            raw = self._blob(top, source)
            chosen = docs.choose_manifest(raw, top, platform)
            if chosen is not top:
                with self.lease(chosen.digest):
                    return self._add(chosen, top.digest, refs, source, record_digest)
            return self._add(top, top.digest, refs, source, record_digest)

    def _fetch(self, descriptor: Descriptor, source: BlobSource | None) -> None:
        """Make sure the blob is in the content store, fetching and verifying it."""
        if not self.content.exists(descriptor.digest):
            if source is None:
                raise NoSuchObject(f"blob {descriptor.digest} is not in the content store")
            self.content.write(source.fetch(descriptor), descriptor.digest, descriptor.size)

    def _blob(self, descriptor: Descriptor, source: BlobSource | None) -> bytes:
        """A small blob's bytes (a manifest or config; layers are streamed instead)."""
        self._fetch(descriptor, source)
        return self.content.read(descriptor.digest)

    def _add(
        self,
        desc: Descriptor,
        top_digest: str,
        refs: list[Reference],
        source: BlobSource | None,
        record_digest: bool,
    ) -> Image:
        manifest = docs.decode_manifest(self._blob(desc, source), desc.digest)
        layers = [layer.digest for layer in manifest.layers]
        with self.lease(manifest.config.digest, *layers):
            document = docs.decode_config(self._blob(manifest.config, source), manifest)
            chains = chain_ids(document.rootfs.diff_ids)
            with self.lease(*chains):
                for layer in manifest.layers:
                    self._fetch(layer, source)
                size = self._unpack(manifest.layers, document.rootfs.diff_ids, chains)
                image = image_from(document, manifest.config.digest, desc.digest, layers, size)
                with self._lock:
                    existing = self.table.get(image.id)
                    image.digests = list(existing.digests) if existing else []
                    for ref in refs:
                        entry = f"{ref.repository}@{ref.digest or top_digest}"
                        if (ref.digest or record_digest) and entry not in image.digests:
                            image.digests.append(entry)
                    return self.table.put(image, [ref.tagged for ref in refs if ref.tag])

    def _unpack(self, layers: list[Descriptor], diff_ids: list[str], chains: list[str]) -> int:
        size, parent = 0, ""
        for layer, diff_id, chain in zip(layers, diff_ids, chains, strict=True):
            snapshot = self.snapshots.get(chain)
            if snapshot is None:
                fill = functools.partial(self._apply, layer.digest, whiteouts=bool(parent))
                snapshot = self.snapshots.commit(parent or None, fill, expected_diff_id=diff_id)
            size += snapshot.size
            parent = chain
        return size

    def _apply(self, blob: str, fs: Path, *, whiteouts: bool) -> LayerInfo:
        with self.content.open(blob) as stream:
            return apply_layer(stream, fs, whiteouts=whiteouts)

    def import_rootfs(
        self, source: Path | BinaryIO, reference: str, *, config: ImageConfig | None = None
    ) -> Image:
        """Make a one-layer image of a rootfs tarball, as ``docker import`` (blocking).

        ``source`` is a tar file (uncompressed, gzip or zstd) or an open binary
        stream of one. The layer, config and manifest blobs are stored, the layer
        unpacked and the image recorded under ``reference``.
        """
        ref = parse_reference(reference)
        if ref.digest:
            raise InvalidArgument(f"cannot import as {reference!r}: a name takes no digest")
        with self.lease():
            if isinstance(source, Path):
                with source.open("rb") as stream:
                    layer = self.content.write(stream)
            else:
                layer = self.content.write(source)
            with self.lease(layer):
                try:
                    fill = functools.partial(self._apply, layer, whiteouts=False)
                    snapshot = self.snapshots.commit(None, fill)
                except BaseException:
                    self._drop_if_unused(layer)
                    raise
                now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                manifest = docs.write_single_layer(
                    self.content, layer, snapshot.diff_id, config, now
                )
                return self.add_image(manifest, names=[str(ref)], record_digest=False)

    def _drop_if_unused(self, digest: str) -> None:
        """Delete a blob only this call leased and no image uses (a failed import's)."""
        with self._lock:
            if self._pins[digest] <= 1 and not any(
                digest in image.layers for image in self.table.all()
            ):
                self.content.delete(digest)

    def drop_unreferenced(self, digests: Iterable[str]) -> list[str]:
        """Delete the blobs ``digests`` no image uses and no lease pins (a load's leftovers)."""
        with self._lock:
            used = set(self._pins)
            for image in self.table.all():
                used.update((image.id, image.manifest, *image.layers))
                used.update(entry.rpartition("@")[2] for entry in image.digests)
            return [d for d in sorted(set(digests) - used) if self.content.delete(d)]

    def save(
        self, refs: Sequence[str], out: BinaryIO, *, format: ArchiveFormat = "docker-archive"
    ) -> list[Image]:
        """Write the images ``refs`` name to ``out`` as one tar, ``docker save`` (blocking)."""
        return save_archive(self, refs, out, format)

    def load(self, source: BinaryIO, *, progress: Progress | None = None) -> list[Image]:
        """Record a docker-archive's or OCI layout tar's images, all or none (blocking)."""
        return load_archive(self, source, progress)

    # -- looking up and naming -------------------------------------------------

    def resolve(self, ref: str) -> Image:
        """The image ``ref`` names: a name, ``name@digest``, an id or an id prefix.

        Raises ``NoSuchImage``, or ``InvalidArgument`` for a malformed reference
        or an ambiguous id prefix.
        """
        return lookup(self.table, ref)[0]

    def tag(self, ref: str, new_reference: str) -> Image:
        """Give the image ``ref`` names the additional name ``new_reference``."""
        image = self.resolve(ref)
        new = parse_reference(new_reference)
        if new.digest:
            raise InvalidArgument(f"cannot tag as {new_reference!r}: a tag takes no digest")
        return self.table.put(image, [new.tagged])

    def remove(
        self, ref: str, *, in_use: Callable[[str], bool] = _never_in_use, force: bool = False
    ) -> Removal:
        """Untag ``ref``; delete the image when its last name goes (docker's ``rmi``).

        Removing by id deletes the image with all its names (``force`` needed
        when they span several repositories). Deleting an image a container
        uses (``in_use(image_id)``) raises ``Conflict`` unless ``force``. Blobs
        and snapshots nothing references any more are then collected.
        """
        with self._lock:
            removal = remove_image(self.table, ref, in_use=in_use, force=force)
        if removal.deleted:
            self.gc()
        return removal

    def prune(
        self,
        *,
        in_use: Callable[[str], bool] = _never_in_use,
        all: bool = False,
        selects: Callable[[Image], bool] = _every_image,
    ) -> Collected:
        """Delete dangling images (no tag left) no container uses, then ``gc``.

        With ``all``, every image no container uses goes, tagged or not
        (docker's ``image prune -a``); its names are reported as untagged.
        Only images ``selects`` takes (a prune's filters) are considered.
        """
        with self._lock:
            deleted, untagged = [], []
            for image in self.table.all():
                if (all or not image.names) and selects(image) and not in_use(image.id):
                    self.table.delete(image.id)
                    deleted.append(image.id)
                    untagged += [*image.names, *image.digests]
        return msgspec.structs.replace(self.gc(), images=deleted, untagged=untagged)

    def gc(self) -> Collected:
        """Remove blobs and committed snapshots no image, container or lease references."""
        with self._lock:
            since = min(self._leases, default=float("inf"))
            return collect(self.table, self.content, self.snapshots, set(self._pins), since)

    # -- container root filesystems --------------------------------------------

    def rootfs(self, key: str, image: Image | str, idmap: IdMap | None = None) -> list[Mount]:
        """Prepare the writable snapshot ``key`` on the image's layers; its mounts.

        With ``idmap`` the files are owned by the mapped IDs (a user namespace's root).
        """
        record = image if isinstance(image, Image) else self.resolve(image)
        return self.snapshots.prepare(key, record.chain_id or None, idmap)

    def mounts(self, key: str) -> list[Mount]:
        return self.snapshots.mounts(key)

    def writable(self, key: str) -> Path:
        """The directory the container snapshot ``key``'s writes land in (with its work dir)."""
        snapshot = self.snapshots.get(key)
        if snapshot is None or snapshot.kind != "active":
            raise NoSuchObject(f"no such container snapshot: {key}")
        return self.snapshots.dir(snapshot.number)

    def release(self, key: str) -> None:
        """Remove the container snapshot ``key`` (idempotent); its files are gone."""
        self.snapshots.remove(key)

    def list(self) -> list[Image]:
        """Every image, newest first."""
        return self.table.all()
