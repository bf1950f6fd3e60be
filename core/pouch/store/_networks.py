"""The networks table: one msgspec-encoded ``Network`` record per row."""

from __future__ import annotations

import sqlite3

import msgspec

from pouch.errors import Conflict
from pouch.models import Network
from pouch.store._db import Database

__all__ = ["NetworkTable"]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Network)


class NetworkTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, network: Network) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO networks (name, id, driver, record) VALUES (?, ?, ?, ?)",
                    (network.name, network.id, network.driver, _encoder.encode(network)),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"network with name {network.name} already exists") from None

    def delete(self, name: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM networks WHERE name = ?", (name,))

    def get(self, name: str) -> Network | None:
        rows = self._db.query("SELECT record FROM networks WHERE name = ?", (name,))
        return _decoder.decode(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def by_id_prefix(self, prefix: str) -> list[Network]:
        if not prefix.isalnum():
            return []
        rows = self._db.query("SELECT record FROM networks WHERE id LIKE ?", (prefix + "%",))
        return [_decoder.decode(r[0]) for r in rows]  # type: ignore[arg-type]

    def all(self) -> list[Network]:
        rows = self._db.query("SELECT record FROM networks ORDER BY name")
        return [_decoder.decode(r[0]) for r in rows]  # type: ignore[arg-type]
