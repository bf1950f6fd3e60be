"""The SQLite connection: WAL mode, foreign keys, migrations, transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pouch.errors import NoSpace, PouchError
from pouch.store._schema import MIGRATIONS

__all__ = ["Database", "SchemaTooNew"]


class SchemaTooNew(PouchError):
    """The database was written by a newer pouch; refuse rather than corrupt it."""


class Database:
    """One connection, shared by the event loop and worker threads.

    Statements are short and SQLite in WAL mode with ``synchronous=NORMAL`` does
    not fsync on commit, so the event loop calls inline; image work running in
    worker threads uses the same connection, so a lock serialises every
    transaction and query on it.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    @property
    def version(self) -> int:
        row = self._conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise SchemaTooNew(
                f"{self.path} has schema version {current}, this pouch knows up to "
                f"{len(MIGRATIONS)}; upgrade pouch or point --root elsewhere"
            )
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction() as conn:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception.

        A full disk ("database or disk is full") raises ``NoSpace`` naming the
        database; the transaction is rolled back, so the next one starts clean.
        """
        with self._lock, self._full_disk():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a failed COMMIT on a full disk).
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _full_disk(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise
            raise NoSpace(self.path, area=self.path.parent) from exc

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def close(self) -> None:
        self._conn.close()
