"""Blob sources chained per blob: peers, mirrors, then the registry.

Owns the ``Source`` protocol (a place blobs can come from, opened at a byte
offset), ``EndpointSource`` (a mirror's or the registry's repository) and
``SourceChain`` (the ordered sources of one pull). A blob streams from the
first source that has it; when that source stops half-way the next one
continues from the byte where it stopped (``Range``), so nothing received is
fetched twice. The last source (the registry) is opened again from the byte
where it stopped, as the blob's ``Attempts`` allow, when it fails in a way
that may pass. A source that cannot be reached is skipped for the rest of
the pull and said so once; one whose bytes failed verification is marked bad
for the pull and named. The content store verifies the digest of what the
chain yields: this module must not write to it. Thread-safe; blocking.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from pouch.distribution._client import Endpoint, RegistryClient
from pouch.distribution._errors import DigestMismatch, RegistryError, RegistryUnavailable
from pouch.distribution._retry import Attempts
from pouch.errors import NoSuchObject

__all__ = ["EndpointSource", "PeerFinder", "Source", "SourceChain", "no_peers"]

log = logging.getLogger(__name__)


class Source(Protocol):
    """Somewhere a blob can be fetched from; ``name`` says where, in logs and errors."""

    @property
    def name(self) -> str: ...

    def open(self, repo: str, digest: str, offset: int) -> Iterator[bytes]:
        """The blob's bytes from ``offset`` on.

        Raises ``NoSuchObject`` when the source lacks the blob and a
        ``RegistryError`` when it cannot serve it; a transfer that stops
        raises ``RegistryUnavailable`` from the iterator.
        """
        ...


# Peers of a pull: (registry, repository) -> sources, asked before mirrors.
PeerFinder = Callable[[str, str], Sequence[Source]]


def no_peers(registry: str, repo: str) -> Sequence[Source]:
    return ()


class EndpointSource:
    """A mirror's or the registry's repository; the client is made on first use."""

    def __init__(self, make_client: Callable[[], RegistryClient], endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._make_client = make_client
        self._client: RegistryClient | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        kind = "mirror" if self.endpoint.mirror else "registry"
        return f"{kind} {self.endpoint.host}"

    def client(self) -> RegistryClient:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def open(self, repo: str, digest: str, offset: int) -> Iterator[bytes]:
        return self.client().blob_chunks(repo, digest, offset)


class SourceChain:
    """The sources of one pull, in order; ``blob`` streams a blob across them."""

    def __init__(self, sources: Sequence[Source], repo: str) -> None:
        if not sources:
            raise ValueError("a source chain needs at least one source")
        self.sources = list(sources)
        self.repo = repo
        self._unusable: dict[str, str] = {}  # source name -> why, for this pull
        self._lock = threading.Lock()

    @property
    def last(self) -> Source:
        return self.sources[-1]

    def usable(self) -> list[Source]:
        """The sources not yet found unreachable or bad in this pull (the last always)."""
        with self._lock:
            return [
                s for s in self.sources if s.name not in self._unusable or s is self.sources[-1]
            ]

    def mark_bad(self, names: Sequence[str], why: str) -> list[str]:
        """Skip these sources for the rest of the pull; those that were still usable."""
        fresh = []
        with self._lock:
            for name in names:
                if name not in self._unusable:
                    self._unusable[name] = why
                    fresh.append(name)
        return fresh

    def _unreachable(self, source: Source, exc: Exception) -> None:
        if self.mark_bad([source.name], str(exc)):
            log.warning("%s skipped for the rest of this pull: %s", source.name, exc)

    def blob(
        self, digest: str, used: list[str], attempts: Attempts | None = None
    ) -> Iterator[bytes]:
        """The bytes of ``digest``, from the first source that has them.

        Each source that contributed bytes is appended to ``used`` (for the
        log and for blame when the digest does not match). A source that stops
        half-way is followed by the next one from the same byte. The last
        source is opened again from the byte where it stopped for as long as
        ``attempts`` allow (then ``RetriesExhausted``); without ``attempts``,
        or for a failure another attempt cannot mend, the last source's error
        is raised unchanged when no source can serve the blob.
        """
        offset = 0
        missing: list[str] = []
        for source in self.usable():
            last = source is self.sources[-1]
            retry = attempts if last else None
            try:
                while True:
                    start = offset
                    try:
                        chunks = source.open(self.repo, digest, offset)
                        try:
                            for chunk in chunks:
                                if not used or used[-1] != source.name:
                                    used.append(source.name)
                                offset += len(chunk)
                                yield chunk
                        finally:
                            close = getattr(chunks, "close", None)
                            if close is not None:
                                close()
                        return
                    except RegistryUnavailable as exc:
                        if retry is None:
                            raise
                        retry.failed(exc, progressed=offset > start)  # or raises
                        log.info("%s: %s again from byte %d", source.name, digest, offset)
            except NoSuchObject:
                if last:
                    raise
                missing.append(source.name)
            except DigestMismatch:
                raise
            except RegistryError as exc:
                if last:
                    raise
                if offset:
                    log.warning(
                        "%s stopped at byte %d of %s (%s); the next source continues from there",
                        source.name,
                        offset,
                        digest,
                        exc,
                    )
                if isinstance(exc, RegistryUnavailable) and not offset:
                    self._unreachable(source, exc)
                elif not offset:
                    log.info("%s cannot serve %s: %s", source.name, digest, exc)
        raise RegistryError(
            f"blob {digest} of {self.repo} is in none of its sources ({', '.join(missing)})"
        )
