"""A registry repository as a ``BlobSource``, and one fetch per digest at a time.

Owns ``RegistryBlobSource`` (what ``ImageStore.add_image`` fetches missing
blobs through: manifests from ``/manifests/<digest>``, everything else from
``/blobs/``), ``KeyedLocks`` (a lock per manifest or blob digest, so
concurrent pulls do each piece of work once) and telling an index from a
manifest. It must not write to the content store: the store verifies and
writes what a source yields.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import msgspec

from pouch.distribution._client import RegistryClient
from pouch.images import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
)

__all__ = ["KeyedLocks", "RegistryBlobSource", "is_index"]

_MANIFEST_TYPES = frozenset({OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST})


class _Probe(msgspec.Struct):
    manifests: list[msgspec.Raw] | None = None


def is_index(raw: bytes, media_type: str) -> bool:
    """Whether a manifest document is an image index (or Docker manifest list)."""
    if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST):
        return True
    try:  # an OCI index need not say its mediaType
        return msgspec.json.decode(raw, type=_Probe).manifests is not None
    except msgspec.MsgspecError:
        return False


class KeyedLocks:
    """One lock per key (a manifest or blob digest), existing while someone holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._lock:
            lock, users = self._held.get(key, (threading.Lock(), 0))
            self._held[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._held[key]
                if users == 1:
                    del self._held[key]
                else:
                    self._held[key] = (lock, users - 1)


class RegistryBlobSource:
    """``BlobSource`` over one repository of one registry endpoint."""

    def __init__(self, client: RegistryClient, repo: str) -> None:
        self.client = client
        self.repo = repo

    def fetch(self, descriptor: Descriptor) -> Iterable[bytes]:
        """Manifests come from ``/manifests/<digest>``, everything else from ``/blobs/``."""
        if descriptor.mediaType in _MANIFEST_TYPES:
            raw, _, _ = self.client.get_manifest(self.repo, descriptor.digest)
            return [raw]
        return self.client.blob_chunks(self.repo, descriptor.digest)
