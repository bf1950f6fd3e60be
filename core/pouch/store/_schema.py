"""Schema migrations, applied in order; ``PRAGMA user_version`` records the last.

Append only: a released migration is never edited, a change is a new entry.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: containers, images and their names, snapshots
    """
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        record BLOB NOT NULL
    );
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        record BLOB NOT NULL
    );
    CREATE TABLE image_names (
        name TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX image_names_by_image ON image_names(image_id);
    CREATE TABLE snapshots (
        key TEXT PRIMARY KEY,
        parent TEXT,
        kind TEXT NOT NULL,
        record BLOB NOT NULL
    );
    """,
    # 2: networks by name, with the driver that implements each
    """
    CREATE TABLE networks (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        driver TEXT NOT NULL,
        record BLOB NOT NULL
    );
    """,
    # 3: volumes staged on this node and the containers each is published to
    """
    CREATE TABLE volume_stages (
        driver TEXT NOT NULL,
        name TEXT NOT NULL,
        record BLOB NOT NULL,
        PRIMARY KEY (driver, name)
    );
    """,
)
