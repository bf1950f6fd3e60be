"""Blobs this node is fetching from beyond its peers, so peers can wait for them.

Owns ``Upstream`` (digest → when this node went past its peers for it) and
``UpstreamMark``, the source the plugin puts after the peers of a pull: it
never serves anything, it notes that the pull is about to ask the mirrors or
the registry for the blob and passes on. The peer service, asked for such a
blob, waits (bounded) for it to land in the content store instead of
answering 404, so a node that starts the same pull a moment later fetches
the blob from this one rather than from the registry. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from pouch.errors import NoSuchObject

__all__ = ["Upstream", "UpstreamMark"]


class Upstream:
    """Digests this node is fetching from its mirrors or registry, with when it began."""

    def __init__(self, linger: float = 600.0) -> None:
        self.linger = linger
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()

    def begin(self, digest: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._since = {d: t for d, t in self._since.items() if now - t < self.linger}
            self._since[digest] = now

    def fetching(self, digest: str) -> bool:
        with self._lock:
            since = self._since.get(digest)
        return since is not None and time.monotonic() - since < self.linger

    def wait(self, digest: str, present: Callable[[], bool], timeout: float) -> bool:
        """Whether the blob this node is fetching arrived within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.fetching(digest):
            if present():
                with self._lock:
                    self._since.pop(digest, None)
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return present()


class UpstreamMark:
    """The last of the peers of a pull: notes the blob as fetched upstream, serves nothing."""

    name = "peers (none had it)"

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    def open(self, repo: str, digest: str, offset: int) -> Iterator[bytes]:
        self.upstream.begin(digest)
        raise NoSuchObject(f"no peer has {digest}")
