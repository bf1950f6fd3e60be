"""Persistent state: SQLite metadata in WAL mode under the state root.

Blobs and snapshots live on disk beside it (``pouch.images``); this package owns
only the database: its schema migrations and the container, image and snapshot
tables. Every state change is one transaction, so a process killed at any point
leaves either the old record or the new one, never half of each.
"""

from __future__ import annotations

from pouch.store._containers import ContainerTable
from pouch.store._db import Database, SchemaTooNew
from pouch.store._networks import NetworkTable
from pouch.store._volumes import StageRecord, VolumeStageTable

__all__ = [
    "ContainerTable",
    "Database",
    "NetworkTable",
    "SchemaTooNew",
    "StageRecord",
    "VolumeStageTable",
]
