"""Pushing a local image: its blobs, then its manifest under the tag.

Owns the order of a push: every layer (in parallel, at most
``max_concurrent_downloads`` at once) and the config are skipped when the
registry has them (``HEAD``), mounted from another repository of the same
registry that the image came from when the registry allows it, or uploaded
(one ``PUT``, or ``PATCH`` chunks with ``chunk_size``); then the manifest is
put under the tag and its digest recorded on the image. It must not change an
image's content. Blocking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

import msgspec

from pouch.distribution._client import RegistryClient
from pouch.distribution._errors import RegistryError
from pouch.distribution._progress import Reporter, short_id
from pouch.distribution._registries import Registries
from pouch.distribution._source import KeyedLocks
from pouch.errors import InvalidArgument
from pouch.images import OCI_MANIFEST, Descriptor, Image, ImageStore, Manifest, Reference

__all__ = ["Pusher"]

_INTERVAL = 0.1


def _mount_sources(image: Image, ref: Reference) -> list[str]:
    """Other repositories of ``ref``'s registry that hold this image's blobs."""
    sources: list[str] = []
    for name in [*image.digests, *image.names]:
        repository = name.partition("@")[0] if "@" in name else name.rpartition(":")[0]
        domain, _, path = repository.partition("/")
        if domain == ref.domain and path != ref.path and path not in sources:
            sources.append(path)
    return sources


class Pusher:
    """Pushes images of ``store`` to ``registries``."""

    def __init__(self, registries: Registries, store: ImageStore, locks: KeyedLocks) -> None:
        self.registries = registries
        self.store = store
        self.locks = locks

    def push(self, ref: Reference, report: Reporter, *, chunk_size: int | None = None) -> str:
        if ref.digest:
            raise InvalidArgument(f"cannot push {ref}: push a tag, not a digest", field="reference")
        image = self.store.resolve(ref.tagged)
        raw = self.store.content.read(image.manifest)
        try:
            manifest = msgspec.json.decode(raw, type=Manifest)
        except msgspec.MsgspecError as exc:
            raise RegistryError(f"the manifest of {ref.familiar()} is unusable: {exc}") from None
        client = self.registries.client(ref.domain)
        report(f"The push refers to repository [{ref.familiar().rpartition(':')[0]}]")
        sources = _mount_sources(image, ref)
        layers = list({layer.digest: layer for layer in manifest.layers}.values())
        for layer in layers:
            report("Preparing", short_id(layer.digest))
        limit = max(1, self.registries.settings.max_concurrent_downloads)
        for layer in layers[limit:]:
            report("Waiting", short_id(layer.digest))
        with self.store.lease(image.manifest, manifest.config.digest, *image.layers):
            self._blobs(client, ref, layers, sources, report, chunk_size, limit)
            self._blob(client, ref, manifest.config, sources, None, chunk_size)
            media_type = manifest.mediaType or OCI_MANIFEST
            digest = client.put_manifest(ref.path, ref.tag, raw, media_type)
            self.store.add_image(image.manifest, names=[ref.tagged])  # records repo@digest
        report(f"{ref.tag}: digest: {digest} size: {len(raw)}")
        return digest

    def _blobs(
        self,
        client: RegistryClient,
        ref: Reference,
        layers: list[Descriptor],
        sources: list[str],
        report: Reporter,
        chunk_size: int | None,
        limit: int,
    ) -> None:
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="pouch-push") as pool:
            futures = [
                pool.submit(self._blob, client, ref, layer, sources, report, chunk_size)
                for layer in layers
            ]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _blob(
        self,
        client: RegistryClient,
        ref: Reference,
        blob: Descriptor,
        sources: list[str],
        report: Reporter | None,
        chunk_size: int | None,
    ) -> None:
        short = short_id(blob.digest)
        say: Callable[[str], None] = (lambda text: report(text, short)) if report else _silent
        with self.locks.hold(f"push {client.host}/{ref.path} {blob.digest}"):
            if client.blob_exists(ref.path, blob.digest):
                say("Layer already exists")
                return
            location: str | None = ""
            for source in sources[:1]:
                location = client.start_upload(ref.path, mount=blob.digest, source=source)
                if location is None:
                    say(f"Mounted from {source}")
                    return
            location = location or client.start_upload(ref.path)
            if location is None:  # the registry mounted it without being asked
                say("Layer already exists")
                return
            sent = _Sent(report, short, blob.size)
            with self.store.content.open(blob.digest) as data:
                client.upload(
                    ref.path,
                    location,
                    blob.digest,
                    blob.size,
                    data,
                    on_sent=sent,
                    chunk_size=chunk_size,
                )
            sent.finish()
        say("Pushed")


def _silent(text: str) -> None:
    """Where the config blob's statuses go: docker does not show them either."""


class _Sent:
    """Counts uploaded bytes and reports ``Pushing`` at most every 0.1 s."""

    def __init__(self, report: Reporter | None, short: str, total: int) -> None:
        self._report, self._short, self._total = report, short, total
        self._done, self._last = 0, 0.0
        self._lock = threading.Lock()

    def __call__(self, count: int) -> None:
        with self._lock:
            self._done += count
            now = time.monotonic()
            if self._report is not None and now - self._last >= _INTERVAL:
                self._last = now
                self._report("Pushing", self._short, self._done, self._total)

    def finish(self) -> None:
        if self._report is not None:
            self._report("Pushing", self._short, self._done, self._total)
