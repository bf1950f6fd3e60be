"""The staged volumes: what a volume driver staged, and for which containers.

One row per (driver, volume) while the volume is staged on this node. The
engine writes it before it tells the driver to stage and after each publish,
so after a crash it knows what to unpublish and unstage.
"""

from __future__ import annotations

import msgspec

from pouch.drivers import StagedVolume
from pouch.store._db import Database

__all__ = ["StageRecord", "VolumeStageTable"]


class StageRecord(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A volume staged on this node; ``staged`` is empty until the driver answered."""

    driver: str
    name: str
    staged: StagedVolume | None = None
    # Containers the volume is published to (or being published to).
    users: list[str] = []


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(StageRecord)


class VolumeStageTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, record: StageRecord) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO volume_stages (driver, name, record) VALUES (?, ?, ?)",
                (record.driver, record.name, _encoder.encode(record)),
            )

    def get(self, driver: str, name: str) -> StageRecord | None:
        rows = self._db.query(
            "SELECT record FROM volume_stages WHERE driver = ? AND name = ?", (driver, name)
        )
        return _decoder.decode(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def delete(self, driver: str, name: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM volume_stages WHERE driver = ? AND name = ?", (driver, name))

    def all(self) -> list[StageRecord]:
        rows = self._db.query("SELECT record FROM volume_stages ORDER BY driver, name")
        return [_decoder.decode(r[0]) for r in rows]  # type: ignore[arg-type]
