"""Collecting what no image references: blobs in the content store, committed snapshots.

Owns the mark (every image's manifest, config, layer and digest blobs, its
chain; active container snapshots and what they build on; leased keys) and the
sweep. It must not delete image records: ``ImageStore.prune`` decides that.
"""

from __future__ import annotations

import msgspec

from pouch.images._content import ContentStore
from pouch.images._records import ImageTable
from pouch.images._snapshots import Snapshotter

__all__ = ["Collected", "collect"]


class Collected(msgspec.Struct, kw_only=True):
    """What a prune or gc removed; ``reclaimed`` counts blob and layer file bytes.

    ``untagged``: the names and digest references the deleted images had.
    """

    images: list[str] = []
    untagged: list[str] = []
    blobs: list[str] = []
    snapshots: list[str] = []
    reclaimed: int = 0


def collect(
    table: ImageTable,
    content: ContentStore,
    snapshots: Snapshotter,
    pinned: set[str],
    since: float,
) -> Collected:
    """Sweep unreferenced blobs and snapshots (blocking); the caller holds the store lock.

    Blobs and snapshots made at or after ``since`` (when the oldest open lease
    began) are kept: their writer has not recorded them yet.
    """
    blobs, chains = set(pinned), set(pinned)
    for image in table.all():
        blobs.update((image.id, image.manifest, *image.layers))
        blobs.update(entry.rpartition("@")[2] for entry in image.digests)
        if image.chain_id:
            chains.add(image.chain_id)
    removed, reclaimed = [], 0
    for digest in content.list():
        if digest in blobs:
            continue
        try:
            info = content.path(digest).stat()
        except FileNotFoundError:
            continue
        if info.st_mtime < since and content.delete(digest):
            removed.append(digest)
            reclaimed += info.st_size
    content.remove_stale_temp()
    dead = snapshots.gc(chains, since)
    reclaimed += sum(snapshot.size for snapshot in dead)
    return Collected(
        blobs=removed, snapshots=[snapshot.key for snapshot in dead], reclaimed=reclaimed
    )
