"""The containers table: one msgspec-encoded ``Container`` record per row."""

from __future__ import annotations

import sqlite3

import msgspec

from pouch.errors import Conflict
from pouch.models import Container
from pouch.store._db import Database

__all__ = ["ContainerTable"]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Container)


class ContainerTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, container: Container) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO containers (id, name, created_at, record) VALUES (?, ?, ?, ?)",
                    (
                        container.id,
                        container.name,
                        container.created_at,
                        _encoder.encode(container),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if "containers.name" in str(exc):
                raise Conflict(f"the container name {container.name!r} is already in use") from None
            raise

    def put(self, container: Container) -> None:
        """Replace the stored record (the name may have changed)."""
        try:
            with self._db.transaction() as conn:
                cursor = conn.execute(
                    "UPDATE containers SET name = ?, record = ? WHERE id = ?",
                    (container.name, _encoder.encode(container), container.id),
                )
                if cursor.rowcount != 1:
                    raise LookupError(container.id)
        except sqlite3.IntegrityError as exc:
            if "containers.name" in str(exc):
                raise Conflict(f"the container name {container.name!r} is already in use") from None
            raise

    def delete(self, container_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def get(self, container_id: str) -> Container | None:
        rows = self._db.query("SELECT record FROM containers WHERE id = ?", (container_id,))
        return _decoder.decode(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def by_name(self, name: str) -> Container | None:
        rows = self._db.query("SELECT record FROM containers WHERE name = ?", (name,))
        return _decoder.decode(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def by_prefix(self, prefix: str) -> list[Container]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db.query(
            "SELECT record FROM containers WHERE id LIKE ? ESCAPE '\\'", (escaped + "%",)
        )
        return [_decoder.decode(r[0]) for r in rows]  # type: ignore[arg-type]

    def all(self) -> list[Container]:
        rows = self._db.query("SELECT record FROM containers ORDER BY created_at DESC")
        return [_decoder.decode(r[0]) for r in rows]  # type: ignore[arg-type]
