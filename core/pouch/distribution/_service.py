"""``Distribution``: the registry side of an engine, in one blocking object.

Owns tying ``Registries`` (endpoints, TLS, credentials) to an ``ImageStore``
for ``pull`` and ``push``, with the locks that make concurrent pulls of one
image do the work once. Every method blocks (network and file work): the
engine calls them through ``anyio.to_thread.run_sync``. Progress callbacks are
called from worker threads, see ``pouch.distribution.PullProgress``. It must
not publish events or know about containers: that is the engine's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pouch.config import RegistrySettings
from pouch.distribution._chain import PeerFinder, no_peers
from pouch.distribution._platforms import parse_platform
from pouch.distribution._progress import ProgressCallback, Reporter
from pouch.distribution._pull import Puller
from pouch.distribution._push import Pusher
from pouch.distribution._registries import Registries
from pouch.distribution._source import KeyedLocks
from pouch.images import Image, ImageStore, Platform, parse_reference

__all__ = ["Distribution"]


class Distribution:
    """Pull and push images of ``store``; login and logout, as ``settings`` say.

    One per engine: it keeps the scheme each insecure host speaks, the bearer
    tokens per scope and the per-digest locks across calls.
    """

    def __init__(
        self,
        store: ImageStore,
        settings: RegistrySettings | None = None,
        *,
        timeout: float | None = None,
        mirrors: Mapping[str, Sequence[str]] | None = None,
        peers: PeerFinder = no_peers,
    ) -> None:
        """``mirrors`` overrides ``settings.mirrors`` with mirrors per registry;
        ``peers(registry, repo)`` lists the sources asked for a blob before them;
        ``timeout`` overrides ``settings.stall_timeout``."""
        self.store = store
        self.registries = Registries(settings, timeout=timeout, mirrors=mirrors)
        self._locks = KeyedLocks()
        self._puller = Puller(self.registries, store, self._locks, peers)
        self._pusher = Pusher(self.registries, store, self._locks)

    def pull(
        self,
        reference: str,
        *,
        platform: str | Platform | None = None,
        progress: ProgressCallback | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> Image:
        """Pull ``reference`` (a tag or ``name@digest``) for ``platform`` (default: this host).

        ``credentials`` (user, password) are used for this pull instead of
        the stored ones, as the CRI's ``auth`` asks.

        Only what is missing is downloaded; the last progress line says
        "Downloaded newer image" or "Image is up to date". A registry that
        drops, stalls, answers 5xx or 429 is tried again as the settings say
        (``max_download_attempts``, ``retry_delay`` …), blobs resumed. Raises
        ``ImageNotFound`` (a ``NoSuchImage``), ``PlatformNotAvailable``,
        ``RegistryUnauthorized`` / ``RegistryDenied`` / ``RegistryUnavailable``
        (``RetriesExhausted`` when the attempts ran out) or ``DigestMismatch``.
        """
        ref = parse_reference(reference)
        return self._puller.pull(ref, parse_platform(platform), Reporter(progress), credentials)

    def push(
        self,
        reference: str,
        *,
        progress: ProgressCallback | None = None,
        chunk_size: int | None = None,
    ) -> str:
        """Push the local image named ``reference``; the digest of the pushed manifest.

        ``chunk_size`` uploads blobs larger than it in ``PATCH`` chunks of that
        size (the default is one ``PUT`` per blob).
        """
        ref = parse_reference(reference)
        return self._pusher.push(ref, Reporter(progress), chunk_size=chunk_size)

    def login(self, registry: str, username: str, password: str) -> str:
        """Verify the credentials against the registry, then store them; the status text."""
        return self.registries.login(registry, username, password)

    def logout(self, registry: str) -> str:
        """Remove the stored credentials for ``registry``; the status text."""
        return self.registries.logout(registry)
