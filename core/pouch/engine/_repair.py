"""Start-up repair: what a crash of pouchd can leave that no record names.

A ``kill -9`` can land between making a thing and recording it: a network
namespace pinned but not yet on its container's record, a container's
directory and writable snapshot made before its record was added, the
partly written blob of a pull or load. After the
records agree with the runtimes (``Reconciler``), these sweeps remove every
such leftover, one log line each. They run before the engine takes requests,
so nothing half-made belongs to an operation still in flight.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import anyio.to_thread

from pouch.engine._records import Records
from pouch.images import ImageStore
from pouch.mounts import mount_table, unmount
from pouch.netns import remove_netns

__all__ = ["Repairs"]

log = logging.getLogger(__name__)


class Repairs:
    def __init__(self, root: Path, run_root: Path, records: Records, store: ImageStore) -> None:
        self.root = root
        self.run_root = run_root
        self.records = records
        self.store = store

    async def sweep(self) -> int:
        """Remove what no container record names; how many things were removed."""
        records = self.records.all()
        known = {c.id for c in records}
        pinned = {Path(c.netns_path) for c in records if c.netns_path}
        count = await self._namespaces(pinned)
        count += await anyio.to_thread.run_sync(self._snapshots, known)
        count += await anyio.to_thread.run_sync(self._directories, known)
        count += await anyio.to_thread.run_sync(self._partial_blobs)
        return count

    def _partial_blobs(self) -> int:
        """Blobs a pull or load was writing when it was cut short (no writer is left)."""
        try:
            removed = self.store.content.remove_stale_temp(older_than=0)
        except FileNotFoundError:
            return 0
        if removed:
            log.info(
                "repair: removed %d partly written blob(s) of interrupted pulls or loads", removed
            )
        return removed

    async def _namespaces(self, pinned: set[Path]) -> int:
        directory = self.run_root / "netns"
        if not directory.is_dir():
            return 0
        count = 0
        for path in sorted(directory.iterdir()):
            if path in pinned:
                continue
            log.info("repair: releasing network namespace %s that no container records", path)
            try:
                await remove_netns(path)
            except OSError as exc:
                log.warning("repair: cannot release network namespace %s: %s", path, exc)
                continue
            count += 1
        return count

    def _snapshots(self, known: set[str]) -> int:
        count = 0
        for snapshot in self.store.snapshots.list():
            if snapshot.kind != "active" or snapshot.key in known:
                continue
            log.info(
                "repair: removing the writable snapshot of container %s, whose create"
                " was interrupted",
                snapshot.key[:12],
            )
            self.store.release(snapshot.key)
            count += 1
        return count

    def _directories(self, known: set[str]) -> int:
        count = 0
        for parent in (self.root / "containers", self.run_root / "containers"):
            if not parent.is_dir():
                continue
            for entry in sorted(parent.iterdir()):
                if entry.name in known or not entry.is_dir():
                    continue
                log.info("repair: removing %s, the directory of no container", entry)
                _unmount_below(entry)
                shutil.rmtree(entry, ignore_errors=True)
                count += 1
        return count


def _unmount_below(directory: Path) -> None:
    """Detach every mount at or under ``directory``, deepest first, before it is removed."""
    prefix = f"{directory}/"
    points = {
        m.point for m in mount_table() if m.point == str(directory) or m.point.startswith(prefix)
    }
    for point in sorted(points, key=len, reverse=True):
        unmount(Path(point))
