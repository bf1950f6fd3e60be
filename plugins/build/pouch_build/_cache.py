"""The build cache: which image a step made, keyed as docker's classic builder keys it.

A step's key is a hash of its parent image, the instruction with its
variables expanded, and what else decides its result: the config a config
step leaves, the build arguments a ``RUN`` sees, the checksums of the files
a ``COPY`` takes (names, modes, owners and contents; not times, so touching
a file without changing it keeps the cache). Entries live in SQLite under
``<root>/build/cache.db``, so they survive pouchd restarts; an entry whose
image has gone (``image prune``) is a miss. ``prune`` forgets them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import tarfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["BuildCache", "step_key", "tar_checksum"]


def step_key(parent: str, *parts: str) -> str:
    digest = hashlib.sha256(parent.encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def tar_checksum(path: Path) -> str:
    """The content checksum of a layer tar: every entry's metadata and data, no mtimes."""
    digest = hashlib.sha256()
    with tarfile.open(path) as tar:
        for member in tar:
            head = f"{member.name}\0{member.type!r}\0{member.mode}\0{member.uid}\0{member.gid}"
            digest.update(f"{head}\0{member.linkname}\0{member.size}\n".encode())
            if member.isreg():
                data = tar.extractfile(member)
                assert data is not None
                while chunk := data.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


class BuildCache:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = directory / "cache.db"
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS steps"
                " (key TEXT PRIMARY KEY, image TEXT NOT NULL, created REAL NOT NULL)"
            )

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for one transaction (committed unless it raised), then closed."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                yield db
        finally:
            db.close()

    def get(self, key: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT image FROM steps WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def put(self, key: str, image: str) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps (key, image, created) VALUES (?, ?, ?)",
                (key, image, time.time()),
            )

    def forget(self, keys: Iterable[str]) -> None:
        with self._db() as db:
            db.executemany("DELETE FROM steps WHERE key = ?", [(k,) for k in keys])

    def prune(self) -> list[str]:
        """Forget every entry; the images they named."""
        with self._db() as db:
            images = [str(r[0]) for r in db.execute("SELECT DISTINCT image FROM steps")]
            db.execute("DELETE FROM steps")
        return images
