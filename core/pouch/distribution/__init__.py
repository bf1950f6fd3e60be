"""The registry client: pull and push over the OCI distribution spec (Docker Registry API v2).

``Distribution`` pulls images into an ``ImageStore`` and pushes them out;
``Registries`` and ``RegistryClient`` are the lower layers (endpoints and
mirrors, TLS and insecure hosts, the ``WWW-Authenticate`` challenge flow with
basic and bearer-token auth, stored credentials) for callers that speak to a
registry without an image store, such as test helpers. Blocking, on httpx
(imported at the first request): the engine runs it in worker threads,
and progress callbacks are called from those threads. Every blob is verified
by digest before the store keeps it. This package must not unpack layers or
record images itself: ``ImageStore.add_image`` does, through ``BlobSource``.
Blobs come through a ``SourceChain`` per pull: peers (``PeerFinder``, which
plugins provide), the mirrors, the registry, chosen per blob and resumed from
the bytes already received when a source stops. A registry that drops the
connection, stalls, answers 5xx or 429 is tried again as ``RetryPolicy``
says (the ``[registries]`` settings), before the pull fails with
``RetriesExhausted`` naming the registry, the blob and the last cause.
"""

from __future__ import annotations

from pouch.distribution._chain import EndpointSource, PeerFinder, Source, SourceChain, no_peers
from pouch.distribution._client import MANIFEST_ACCEPT, Endpoint, RegistryClient
from pouch.distribution._credentials import CredentialStore, registry_key
from pouch.distribution._errors import (
    DigestMismatch,
    ImageNotFound,
    PlatformNotAvailable,
    RegistryDenied,
    RegistryError,
    RegistryUnauthorized,
    RegistryUnavailable,
    RetriesExhausted,
)
from pouch.distribution._platforms import format_platform, parse_platform
from pouch.distribution._progress import ProgressCallback, PullProgress
from pouch.distribution._registries import Registries
from pouch.distribution._retry import RetryPolicy
from pouch.distribution._service import Distribution
from pouch.distribution._source import RegistryBlobSource

__all__ = [
    "MANIFEST_ACCEPT",
    "CredentialStore",
    "DigestMismatch",
    "Distribution",
    "Endpoint",
    "EndpointSource",
    "ImageNotFound",
    "PeerFinder",
    "PlatformNotAvailable",
    "ProgressCallback",
    "PullProgress",
    "Registries",
    "RegistryBlobSource",
    "RegistryClient",
    "RegistryDenied",
    "RegistryError",
    "RegistryUnauthorized",
    "RegistryUnavailable",
    "RetriesExhausted",
    "RetryPolicy",
    "Source",
    "SourceChain",
    "format_platform",
    "no_peers",
    "parse_platform",
    "registry_key",
]
