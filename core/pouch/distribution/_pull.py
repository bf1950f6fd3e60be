"""Pulling an image: manifest, platform, parallel verified downloads, unpack, record.

Owns the order of a pull: the manifest or index from the first endpoint that
has it (mirrors before the origin), the platform's manifest, the config, then
the missing layers downloaded in parallel (at most ``max_downloads`` at once)
straight into the content store, which verifies digest and size before a blob
becomes visible; then ``ImageStore.add_image`` unpacks and records the image.
One pull of a given manifest runs at a time and one download of a given blob:
a concurrent second pull waits and then finds everything present. A
manifest or blob the registry fails to serve in a way that may pass (a
dropped connection, a stall, 5xx, 429) is tried again with back-off, a blob
from the bytes already received, as the settings' ``RetryPolicy`` allows;
each wait shows as docker's "Retrying in N seconds". Progress goes to a
``Reporter`` from this thread and the download threads. It must not write
blobs or snapshots except through ``ImageStore``. Blocking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

import msgspec

from pouch.distribution import _progress as status
from pouch.distribution._chain import EndpointSource, PeerFinder, Source, SourceChain, no_peers
from pouch.distribution._client import Endpoint, RegistryClient
from pouch.distribution._errors import DigestMismatch, RegistryError
from pouch.distribution._platforms import select_manifest
from pouch.distribution._progress import Reporter, short_id
from pouch.distribution._registries import Registries
from pouch.distribution._retry import Attempts, Pause, PullAttempts, RetryPolicy, retrying_in
from pouch.distribution._source import KeyedLocks, RegistryBlobSource, is_index
from pouch.errors import InvalidArgument, NoSuchImage, NoSuchObject
from pouch.images import (
    OCI_MANIFEST,
    Descriptor,
    Image,
    ImageDocument,
    ImageStore,
    Manifest,
    Platform,
    Reference,
    chain_ids,
)

__all__ = ["Puller"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_POLL = 0.05  # how often the unpack watcher looks for a layer's committed snapshot


class _Stopped(Exception):
    """Another download of the same pull failed: stop this one."""


def _pause(report: Reporter, id: str, stop: threading.Event | None = None) -> Pause:
    """A wait that shows "Retrying in N seconds" on ``id`` each second; ``stop`` ends it."""

    def pause(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            report(retrying_in(left), id)
            step = min(1.0, left)
            if stop is None:
                time.sleep(step)
            elif stop.wait(step):
                raise _Stopped

    return pause


class Puller:
    """Pulls into ``store`` from ``registries``; share one per engine (it holds the locks)."""

    def __init__(
        self,
        registries: Registries,
        store: ImageStore,
        locks: KeyedLocks,
        peers: PeerFinder = no_peers,
    ) -> None:
        """``peers(registry, repo)``: the sources asked for each blob before mirrors."""
        self.registries = registries
        self.store = store
        self.locks = locks
        self.peers = peers

    def pull(
        self,
        ref: Reference,
        platform: Platform | None,
        report: Reporter,
        credentials: tuple[str, str] | None = None,
    ) -> Image:
        """``credentials`` go to the registry itself, never to its mirrors."""
        policy = RetryPolicy.from_settings(self.registries.settings)
        # Waits for the manifest and the config show on the tag's line.
        tried = PullAttempts(
            policy, ref.familiar(), _pause(report, ref.tag or short_id(ref.digest))
        )
        client, raw, media_type, top_digest, chain = self._manifest(ref, credentials, tried)
        report(f"Pulling from {ref.path}", ref.tag or ref.digest)
        top = Descriptor(mediaType=media_type or OCI_MANIFEST, digest=top_digest, size=len(raw))
        source = RegistryBlobSource(client, ref.path)
        with self.store.lease(top.digest):
            self.store.content.write(raw, top.digest, top.size)
            chosen = top
            if is_index(raw, media_type):
                chosen = select_manifest(raw, platform, what=ref.familiar())
                self._fetch(source, chosen, "manifest", tried.of(f"manifest {chosen.digest}"))
            manifest = self._decode(chosen, Manifest, ref)
            with self.locks.hold(chosen.digest):
                before = self._existing(ref)
                layers = [layer.digest for layer in manifest.layers]
                with self.store.lease(chosen.digest, manifest.config.digest, *layers):
                    config = manifest.config
                    self._store_blob(chain, config, "config", tried.of(f"config {config.digest}"))
                    document = self._decode(manifest.config, ImageDocument, ref)
                    chains = chain_ids(document.rootfs.diff_ids)
                    if len(chains) != len(layers):
                        chains = [""] * len(layers)  # add_image reports the mismatch
                    self._download(chain, manifest.layers, chains, report, tried)
                    name = ref.digested if ref.digest else ref.tagged
                    image = self._record(
                        top, name, source, platform, manifest.layers, chains, report
                    )
        report(f"Digest: {top.digest}")
        fresh = before is None or before.manifest != chosen.digest
        news = "Downloaded newer image" if fresh else "Image is up to date"
        report(f"Status: {news} for {ref.familiar()}")
        return image

    def _manifest(
        self, ref: Reference, credentials: tuple[str, str] | None, tried: PullAttempts
    ) -> tuple[RegistryClient, bytes, str, str, SourceChain]:
        """The manifest or index from the first endpoint that has it, and the blob sources.

        Blobs come from the peers, then from that endpoint and the ones after
        it: a mirror that had the manifest but lacks a blob falls through. A
        mirror is asked once; the registry itself as often as ``tried`` allows.
        """
        endpoints = self.registries.endpoints(ref.domain)
        for index, endpoint in enumerate(endpoints):
            try:
                client = self.registries.client(endpoint, None if endpoint.mirror else credentials)

                def get(client: RegistryClient = client) -> tuple[bytes, str, str]:
                    return client.get_manifest(ref.path, ref.digest or ref.tag, what=ref.familiar())

                if endpoint.mirror:
                    raw, media_type, digest = get()
                else:
                    raw, media_type, digest = tried.of("manifest").run(get)
            except (RegistryError, NoSuchImage) as exc:
                if not endpoint.mirror:
                    raise
                log.warning("mirror %s skipped for %s: %s", endpoint.host, ref, exc)
                continue
            chain = self._chain(ref, endpoints[index:], client, credentials)
            return client, raw, media_type, digest, chain
        raise AssertionError("the origin is always the last endpoint")

    def _chain(
        self,
        ref: Reference,
        endpoints: list[Endpoint],
        client: RegistryClient,
        credentials: tuple[str, str] | None,
    ) -> SourceChain:
        """Peers, then ``endpoints`` (the first one's ``client`` already made), per blob."""
        sources: list[Source] = list(self.peers(ref.domain, ref.path))
        sources.append(EndpointSource(lambda: client, endpoints[0]))
        sources += [self._endpoint_source(e, credentials) for e in endpoints[1:]]
        return SourceChain(sources, ref.path)

    def _endpoint_source(
        self, endpoint: Endpoint, credentials: tuple[str, str] | None
    ) -> EndpointSource:
        def make() -> RegistryClient:
            return self.registries.client(endpoint, None if endpoint.mirror else credentials)

        return EndpointSource(make, endpoint)

    def _existing(self, ref: Reference) -> Image | None:
        try:
            return self.store.resolve(ref.digested or ref.tagged)
        except NoSuchObject:
            return None

    def _fetch(
        self, source: RegistryBlobSource, descriptor: Descriptor, kind: str, attempts: Attempts
    ) -> None:
        """A small blob (a platform's manifest) into the store, verified."""
        if self.store.content.exists(descriptor.digest):
            return
        try:
            fetched = attempts.run(lambda: list(source.fetch(descriptor)))
            self.store.content.write(fetched, descriptor.digest, descriptor.size)
        except InvalidArgument as exc:
            raise self._mismatch(source, kind, descriptor, exc) from None

    def _decode(self, descriptor: Descriptor, kind: type[_T], ref: Reference) -> _T:
        try:
            return msgspec.json.decode(self.store.content.read(descriptor.digest), type=kind)
        except msgspec.MsgspecError as exc:
            raise RegistryError(
                f"{ref.familiar()}: {kind.__name__} {descriptor.digest} is not usable: {exc}"
            ) from None

    @staticmethod
    def _mismatch(
        source: RegistryBlobSource, kind: str, descriptor: Descriptor, exc: InvalidArgument
    ) -> DigestMismatch:
        return DigestMismatch(
            f"{kind} {descriptor.digest} from {source.client.host}/{source.repo} failed "
            f"verification and was not stored: {exc.message}",
            host=source.client.host,
        )

    def _store_blob(
        self,
        chain: SourceChain,
        descriptor: Descriptor,
        kind: str,
        attempts: Attempts,
        wrap: Callable[[Iterator[bytes]], Iterator[bytes]] | None = None,
    ) -> list[str]:
        """A blob into the store from the chain, verified; the sources it came from.

        Bytes that fail verification mark their sources bad for this pull and
        the blob is fetched again from the next ones; the registry's bad bytes
        end the pull. ``attempts`` governs trying the registry again.
        """
        if self.store.content.exists(descriptor.digest):
            return []
        for _ in chain.sources:
            used: list[str] = []
            body = chain.blob(descriptor.digest, used, attempts)
            stream = wrap(body) if wrap is not None else body
            try:
                self.store.content.write(stream, descriptor.digest, descriptor.size)
                log.info("%s %s from %s", kind, descriptor.digest, ", ".join(used) or "nowhere")
                return used
            except InvalidArgument as exc:
                named = ", ".join(used) or chain.last.name
                log.warning(
                    "%s %s from %s failed verification: %s",
                    kind,
                    descriptor.digest,
                    named,
                    exc.message,
                )
                chain.mark_bad(used, exc.message)
                if not used or chain.last.name in used:
                    raise DigestMismatch(
                        f"{kind} {descriptor.digest} from {named}/{chain.repo} failed "
                        f"verification and was not stored: {exc.message}",
                        host=named.rpartition(" ")[2],
                    ) from None
            finally:
                for opened in (stream, body):
                    close = getattr(opened, "close", None)
                    if close is not None:
                        close()
        raise DigestMismatch(
            f"{kind} {descriptor.digest} of {chain.repo}: every source served bytes that "
            "failed verification; nothing was stored"
        )

    # -- layers -------------------------------------------------------------------

    def _download(
        self,
        sources: SourceChain,
        layers: list[Descriptor],
        chains: list[str],
        report: Reporter,
        tried: PullAttempts,
    ) -> None:
        missing: dict[str, Descriptor] = {}
        seen: set[str] = set()
        for layer, chain in zip(layers, chains, strict=True):
            if layer.digest in seen:
                continue
            seen.add(layer.digest)
            short = short_id(layer.digest)
            if self.store.content.exists(layer.digest):
                if chain and self.store.snapshots.get(chain) is not None:
                    report(status.ALREADY_EXISTS, short)
                else:
                    report(status.PULLING_FS_LAYER, short)
                    report(status.DOWNLOAD_COMPLETE, short)
            else:
                missing[layer.digest] = layer
                report(status.PULLING_FS_LAYER, short)
        limit = max(1, self.registries.settings.max_concurrent_downloads)
        for layer in list(missing.values())[limit:]:
            report(status.WAITING, short_id(layer.digest))
        if not missing:
            return
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="pouch-pull") as pool:
            futures = [
                pool.submit(self._download_one, sources, layer, report, stop, tried)
                for layer in missing.values()
            ]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                stop.set()
                for future in futures:
                    future.cancel()
                raise

    def _download_one(
        self,
        chain: SourceChain,
        layer: Descriptor,
        report: Reporter,
        stop: threading.Event,
        tried: PullAttempts,
    ) -> None:
        short = short_id(layer.digest)
        with self.locks.hold(layer.digest):
            if stop.is_set():
                raise _Stopped
            if self.store.content.exists(layer.digest):  # a concurrent pull fetched it
                report(status.DOWNLOAD_COMPLETE, short)
                return

            def stream(chunks: Iterator[bytes]) -> Generator[bytes, None, None]:
                for chunk in report.counted(chunks, short, layer.size):
                    if stop.is_set():
                        raise _Stopped
                    yield chunk
                report(status.VERIFYING, short)

            attempts = tried.of(f"layer {layer.digest}", _pause(report, short, stop))
            used = self._store_blob(chain, layer, "layer", attempts, stream)
        report(status.DOWNLOAD_COMPLETE, short, source=", ".join(used))

    # -- unpacking ----------------------------------------------------------------

    def _record(
        self,
        top: Descriptor,
        name: str,
        source: RegistryBlobSource,
        platform: Platform | None,
        layers: list[Descriptor],
        chains: list[str],
        report: Reporter,
    ) -> Image:
        """``add_image``, reporting Extracting / Pull complete as snapshots get committed."""
        pending = [
            (short_id(layer.digest), chain)
            for layer, chain in zip(layers, chains, strict=True)
            if chain and self.store.snapshots.get(chain) is None
        ]
        done = threading.Event()
        watcher = threading.Thread(
            target=self._watch, args=(pending, report, done), name="pouch-unpack", daemon=True
        )
        watcher.start()
        try:
            return self.store.add_image(top, names=[name], source=source, platform=platform)
        finally:
            done.set()
            watcher.join()

    def _watch(
        self, pending: list[tuple[str, str]], report: Reporter, done: threading.Event
    ) -> None:
        for short, chain in pending:
            report(status.EXTRACTING, short)
            while self.store.snapshots.get(chain) is None:
                if done.wait(_POLL) and self.store.snapshots.get(chain) is None:
                    return  # add_image failed (or ended) before this layer
            report(status.PULL_COMPLETE, short)
