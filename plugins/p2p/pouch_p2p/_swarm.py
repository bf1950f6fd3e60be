"""One large blob from several peers at once, in pieces, in order.

Owns ``Swarm``, a ``pouch.distribution.Source`` over the peers of a pull: it
asks every peer whether it has the blob (``HEAD``, all at once); with one
holder, or a blob of no more than two pieces, it streams from the first
holder; with several, it fetches pieces (``Range``) from all of them at once,
each holder a piece at a time, a few pieces ahead, and yields them in order.
A piece that fails is asked of the next holder; when no holder can give it,
the stream stops there and the core's chain continues from that byte with
its next source (the registry), so the registry serves only what no peer
could. The core verifies the digest of the whole. Blocking; its own threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from pouch.distribution import RegistryUnavailable
from pouch.errors import NoSuchObject
from pouch_p2p._peers import PeerSource

__all__ = ["Swarm"]

log = logging.getLogger(__name__)


class Swarm:
    """The peers of a pull as one source that spreads a large blob over its holders."""

    def __init__(
        self,
        peers: Sequence[PeerSource],
        piece: int = 4 << 20,
        tracker: Callable[[str], Sequence[PeerSource]] | None = None,
    ) -> None:
        """``tracker(digest)``: more candidates for a blob, from the tracker."""
        self.peers = list(peers)
        self.piece_size = piece
        self.tracker = tracker

    @property
    def name(self) -> str:
        names = [p.name.removeprefix("peer ") for p in self.peers]
        return "peers " + ", ".join(names + (["the tracker's"] if self.tracker else []))

    def _holders(self, repo: str, digest: str) -> tuple[list[PeerSource], int]:
        candidates = list(self.peers)
        if self.tracker is not None:
            known = {p.name for p in candidates}
            candidates += [p for p in self.tracker(digest) if p.name not in known]
        if not candidates:
            return [], 0
        with ThreadPoolExecutor(len(candidates), thread_name_prefix="pouch-p2p-head") as pool:
            sizes = list(pool.map(lambda peer: peer.size(repo, digest), candidates))
        holders = [peer for peer, size in zip(candidates, sizes, strict=True) if size is not None]
        size = next((s for s in sizes if s is not None), 0)
        return holders, size

    def open(self, repo: str, digest: str, offset: int) -> Iterator[bytes]:
        holders, size = self._holders(repo, digest)
        if not holders:
            raise NoSuchObject(f"no peer has {digest}")
        if len(holders) == 1 or size - offset <= 2 * self.piece_size:
            return holders[0].open(repo, digest, offset)
        log.info("%s: %d bytes from %s at once", digest, size - offset, len(holders))
        return self._pieces(holders, repo, digest, offset, size)

    def _pieces(
        self, holders: list[PeerSource], repo: str, digest: str, offset: int, size: int
    ) -> Iterator[bytes]:
        starts = list(range(offset, size, self.piece_size))

        def fetch(index: int) -> bytes:
            start = starts[index]
            end = min(start + self.piece_size, size) - 1
            errors = []
            for turn in range(len(holders)):
                holder = holders[(index + turn) % len(holders)]
                try:
                    return holder.piece(repo, digest, start, end)
                except RegistryUnavailable as exc:
                    errors.append(str(exc))
            raise RegistryUnavailable(f"no peer gave bytes {start}-{end} of {digest}: {errors}")

        ahead = 2 * len(holders)
        with ThreadPoolExecutor(len(holders), thread_name_prefix="pouch-p2p-piece") as pool:
            pending: dict[int, Future[bytes]] = {}
            try:
                for index in range(len(starts)):
                    for later in range(index, min(index + ahead, len(starts))):
                        if later not in pending:
                            pending[later] = pool.submit(fetch, later)
                    yield pending.pop(index).result()
            finally:
                for future in pending.values():
                    future.cancel()
