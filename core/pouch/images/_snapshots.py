"""The overlayfs snapshotter: committed layers by chain ID, active container snapshots.

Owns ``<root>/snapshots/<N>/`` (``fs`` holds a layer's files or a container's
upper dir, ``work`` is overlayfs' work dir) and the ``snapshots`` table. A small
integer N per snapshot keeps ``lowerdir=`` short: the kernel takes one page of
mount options, and the length is checked before a mount is handed out. It only
*describes* mounts (``pouch.drivers.Mount``) and must never mount anything
itself; unpacking a tarball is ``_layers``' job. Every method is blocking.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import msgspec

from pouch.drivers import Mount
from pouch.errors import Conflict, InvalidArgument, NoSuchObject, writing
from pouch.images._layers import LayerInfo
from pouch.images._manifest import chain_ids
from pouch.images._overlay import describe
from pouch.images._shift import shift_snapshot
from pouch.models import Record
from pouch.store import Database
from pouch.userns import IdMap

__all__ = ["Snapshot", "Snapshotter", "Usage"]

_encoder = msgspec.msgpack.Encoder()


class Snapshot(Record, kw_only=True):
    key: str  # the chain ID of a committed layer, the caller's key of an active one
    kind: Literal["committed", "active"]
    number: int  # the N of <root>/snapshots/<N>
    parent: str = ""  # chain ID of the committed snapshot below, "" for none
    created_at: float = 0.0
    diff_id: str = ""
    size: int = 0  # committed: bytes of file content in this layer alone
    # active: owned by a user namespace's IDs through metadata-only copies (mount metacopy=on)
    shifted: bool = False


class Usage(msgspec.Struct, kw_only=True):
    size: int  # apparent bytes of everything but directories, hard links once
    inodes: int


_decoder = msgspec.msgpack.Decoder(Snapshot)


def _decode(raw: object) -> Snapshot:
    assert isinstance(raw, bytes)
    return _decoder.decode(raw)


class Snapshotter:
    """Snapshots on overlayfs under ``root``; thread-safe within one process."""

    def __init__(self, root: Path, db: Database, lock: threading.RLock | None = None) -> None:
        self.state_root = root
        self.root = root / "snapshots"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = db
        self._lock = lock or threading.RLock()
        self._pending: set[int] = set()  # numbers allocated but not yet recorded
        numbers = [int(e.name) for e in os.scandir(self.root) if e.name.isdigit()]
        self._next = max(numbers, default=0)

    # -- records -----------------------------------------------------------

    def get(self, key: str) -> Snapshot | None:
        with self._lock:
            rows = self._db.query("SELECT record FROM snapshots WHERE key = ?", (key,))
        return _decode(rows[0][0]) if rows else None

    def exists(self, key: str) -> bool:
        return self.get(key) is not None

    def _insert(self, snapshot: Snapshot) -> bool:
        """Record ``snapshot``; False if its key exists already."""
        with self._lock, self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO snapshots (key, parent, kind, record) VALUES (?, ?, ?, ?)",
                (snapshot.key, snapshot.parent or None, snapshot.kind, _encoder.encode(snapshot)),
            )
            return cursor.rowcount == 1

    def dir(self, number: int) -> Path:
        return self.root / str(number)

    @contextmanager
    def _new_dir(self) -> Iterator[int]:
        """A fresh ``<N>`` dir, removed if the block fails; gc leaves it alone meanwhile."""
        with self._lock:
            while True:
                self._next += 1
                with contextlib.suppress(FileExistsError), writing(self.root, area=self.state_root):
                    self.dir(self._next).mkdir(mode=0o700)
                    number = self._next
                    self._pending.add(number)
                    break
        try:
            yield number
        except BaseException:
            shutil.rmtree(self.dir(number), ignore_errors=True)
            raise
        finally:
            with self._lock:
                self._pending.discard(number)

    # -- committed layers ----------------------------------------------------

    def commit(
        self,
        parent: str | None,
        fill: Callable[[Path], LayerInfo],
        *,
        expected_diff_id: str | None = None,
    ) -> Snapshot:
        """Make a committed snapshot on ``parent``: ``fill`` writes the layer into a new dir.

        The snapshot's key is the chain ID of ``parent`` plus the diffID ``fill``
        returns (checked against ``expected_diff_id``). On any error the new dir
        is removed; a full filesystem raises ``NoSpace`` naming the dir. If
        another thread committed the same chain meanwhile, its snapshot is
        returned and this one discarded.
        """
        if parent and not self.exists(parent):
            raise NoSuchObject(f"no such snapshot: {parent}")
        with self._new_dir() as number:
            fs = self.dir(number) / "fs"
            with writing(fs, area=self.state_root):
                fs.mkdir(mode=0o755)
                info = fill(fs)
            if expected_diff_id is not None and info.diff_id != expected_diff_id:
                raise InvalidArgument(
                    f"layer diffID mismatch: the image config says {expected_diff_id}, "
                    f"the layer's content is {info.diff_id}"
                )
            key = chain_ids([parent, info.diff_id])[1] if parent else info.diff_id
            snapshot = Snapshot(
                key=key,
                kind="committed",
                number=number,
                parent=parent or "",
                created_at=time.time(),
                diff_id=info.diff_id,
                size=info.size,
            )
            inserted = self._insert(snapshot)
        if not inserted:  # the same layer was committed meanwhile: use that one
            shutil.rmtree(self.dir(number), ignore_errors=True)
            existing = self.get(key)
            assert existing is not None
            return existing
        return snapshot

    def _chain(self, key: str) -> list[Snapshot]:
        """The committed snapshot ``key`` and all below it, top first."""
        with self._lock:
            rows = self._db.query("SELECT key, record FROM snapshots WHERE kind = 'committed'")
        by_key = {str(row[0]): row[1] for row in rows}
        chain: list[Snapshot] = []
        while key:
            if key not in by_key:
                raise NoSuchObject(f"no such snapshot: {key}")
            snapshot = _decode(by_key[key])
            chain.append(snapshot)
            key = snapshot.parent
        return chain

    # -- active snapshots ------------------------------------------------------

    def prepare(self, key: str, parent: str | None, idmap: IdMap | None = None) -> list[Mount]:
        """A writable snapshot ``key`` for a container on the committed ``parent`` chain.

        With ``idmap`` every entry is owned by the mapped IDs (``_shift``).

        Raises ``Conflict`` if ``key`` exists, ``NoSuchObject`` for an unknown
        parent and ``InvalidArgument`` when the mount options would not fit.
        """
        if not key or key.startswith("sha256:"):
            raise InvalidArgument(f"snapshot key {key!r} must be non-empty and not a digest")
        if self.exists(key):
            raise Conflict(f"snapshot {key!r} already exists")
        lowers = self._chain(parent) if parent else []
        with self._new_dir() as number:
            shifted = idmap is not None
            # raises if the options cannot fit
            mounts = self._describe(number, lowers, metacopy=shifted)
            with writing(self.dir(number), area=self.state_root):
                (self.dir(number) / "fs").mkdir(mode=0o755)
                (self.dir(number) / "work").mkdir(mode=0o700)
                if idmap is not None:
                    shift_snapshot(mounts, self.dir(number) / "shift", idmap)
            snapshot = Snapshot(
                key=key,
                kind="active",
                number=number,
                parent=parent or "",
                created_at=time.time(),
                shifted=shifted,
            )
            if not self._insert(snapshot):
                raise Conflict(f"snapshot {key!r} already exists")
        return mounts

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of snapshot ``key``: read-write if active, read-only if committed."""
        snapshot = self.get(key)
        if snapshot is None:
            raise NoSuchObject(f"no such snapshot: {key}")
        if snapshot.kind == "committed":
            return self._describe(None, self._chain(key))
        lowers = self._chain(snapshot.parent) if snapshot.parent else []
        return self._describe(snapshot.number, lowers, metacopy=snapshot.shifted)

    def _fs(self, snapshot: Snapshot | int) -> str:
        number = snapshot if isinstance(snapshot, int) else snapshot.number
        return str(self.dir(number) / "fs")

    def _describe(
        self, number: int | None, lowers: list[Snapshot], *, metacopy: bool = False
    ) -> list[Mount]:
        """Mounts over ``lowers``, writable into snapshot ``number`` unless it is None."""
        layers = [self._fs(s) for s in lowers]
        if number is None:
            return describe(layers, None, None)
        work = str(self.dir(number) / "work")
        return describe(layers, self._fs(number), work, metacopy=metacopy)

    # -- removal and accounting ------------------------------------------------

    def remove(self, key: str) -> None:
        """Remove snapshot ``key`` and its files; nothing happens if it does not exist.

        A committed snapshot that others are built on raises ``Conflict``.
        """
        with self._lock:
            snapshot = self.get(key)
            if snapshot is None:
                return
            children = self._db.query("SELECT key FROM snapshots WHERE parent = ?", (key,))
            if children:
                raise Conflict(f"snapshot {key} has {len(children)} snapshot(s) built on it")
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM snapshots WHERE key = ?", (key,))
        shutil.rmtree(self.dir(snapshot.number), ignore_errors=True)

    def usage(self, key: str) -> Usage:
        """Disk usage of the snapshot's own files (a walk of its ``fs`` dir)."""
        snapshot = self.get(key)
        if snapshot is None:
            raise NoSuchObject(f"no such snapshot: {key}")
        size, seen = 0, set()
        for top, dirs, files in os.walk(self._fs(snapshot)):
            for name in dirs + files:
                st = os.lstat(os.path.join(top, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    size += 0 if stat.S_ISDIR(st.st_mode) else st.st_size
        return Usage(size=size, inodes=len(seen))

    def gc(self, keep: Iterable[str], since: float = float("inf")) -> list[Snapshot]:
        """Remove committed snapshots that neither ``keep`` nor an active one builds on.

        Snapshots created at or after ``since`` are kept (their image is being
        recorded). Also removes directories no record names (left by a crash).
        Returns the snapshots removed.
        """
        with self._lock:
            snapshots = {s.key: s for s in self.list()}
            wanted = set(keep) | {
                k for k, s in snapshots.items() if s.kind == "active" or s.created_at >= since
            }
            live: set[str] = set()
            for key in wanted:
                while key and key not in live and key in snapshots:
                    live.add(key)
                    key = snapshots[key].parent
            dead = [s for k, s in snapshots.items() if k not in live]
            if dead:
                with self._db.transaction() as conn:
                    conn.executemany(
                        "DELETE FROM snapshots WHERE key = ?", [(s.key,) for s in dead]
                    )
            known = {s.number for s in snapshots.values() if s.key in live} | self._pending
            strays = [
                e.name
                for e in os.scandir(self.root)
                if e.name.isdigit() and int(e.name) not in known
            ]
        for name in strays:
            shutil.rmtree(self.root / name, ignore_errors=True)
        return sorted(dead, key=lambda s: s.key)

    def list(self) -> list[Snapshot]:
        with self._lock:
            rows = self._db.query("SELECT record FROM snapshots ORDER BY key")
        return [_decode(row[0]) for row in rows]
