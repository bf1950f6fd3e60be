"""The image records: the ``images`` and ``image_names`` tables.

Owns the ``Image`` record and its persistence, one transaction per change. The
``image_names`` table is the truth about names: ``Image.names`` is filled from
it on every read and not stored in the record. It must not touch files or
decide docker semantics (untag versus delete): that is ``ImageStore``'s job.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import datetime

import msgspec

from pouch.images._manifest import ImageDocument, chain_ids
from pouch.models import Record
from pouch.oci.image import ImageConfig
from pouch.store import Database

__all__ = ["Image", "ImageTable", "image_from"]


class Image(Record, kw_only=True):
    """One image as the store records it."""

    id: str  # "sha256:<hex of the config blob>"
    names: list[str] = []  # full tagged references, "docker.io/library/busybox:latest"
    digests: list[str] = []  # "docker.io/library/busybox@sha256:<manifest or index>"
    config: ImageConfig = msgspec.field(default_factory=ImageConfig)
    diff_ids: list[str] = []
    chain_id: str = ""  # the top layer's chain ID: what a container's snapshot sits on
    size: int = 0  # bytes of file content once unpacked, all layers
    created: float = 0.0  # unix time, from the config's "created"
    architecture: str = ""
    os: str = ""
    variant: str = ""
    author: str = ""
    manifest: str = ""  # digest of the image manifest in the content store
    layers: list[str] = []  # digests of the layer blobs, bottom first

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str) -> float:
    """RFC 3339 (``2024-05-01T10:00:00.123456789Z``) → unix time; 0.0 if unreadable."""
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", text)).timestamp()
    except ValueError:
        return 0.0


def image_from(
    document: ImageDocument, config_digest: str, manifest: str, layers: list[str], size: int
) -> Image:
    """A new record (without names or digests) of an image from its config document."""
    chains = chain_ids(document.rootfs.diff_ids)
    return Image(
        id=config_digest,
        config=document.config or ImageConfig(),
        diff_ids=list(document.rootfs.diff_ids),
        chain_id=chains[-1] if chains else "",
        size=size,
        created=parse_time(document.created),
        architecture=document.architecture,
        os=document.os,
        variant=document.variant,
        author=document.author,
        manifest=manifest,
        layers=layers,
    )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Image)


class ImageTable:
    """Images and their names; every call is one short statement or transaction."""

    def __init__(self, db: Database, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def _names(self, image_id: str) -> list[str]:
        rows = self._db.query(
            "SELECT name FROM image_names WHERE image_id = ? ORDER BY name", (image_id,)
        )
        return [str(row[0]) for row in rows]

    def _load(self, raw: object) -> Image:
        assert isinstance(raw, bytes)
        image = _decoder.decode(raw)
        image.names = self._names(image.id)
        return image

    def get(self, image_id: str) -> Image | None:
        with self._lock:
            rows = self._db.query("SELECT record FROM images WHERE id = ?", (image_id,))
            return self._load(rows[0][0]) if rows else None

    def all(self) -> list[Image]:
        with self._lock:
            rows = self._db.query("SELECT record FROM images ORDER BY created_at DESC, id")
            return [self._load(row[0]) for row in rows]

    def by_prefix(self, hex_prefix: str) -> list[str]:
        """Ids starting with ``sha256:<hex_prefix>`` (the prefix must be hex)."""
        with self._lock:
            rows = self._db.query(
                "SELECT id FROM images WHERE id LIKE ?", (f"sha256:{hex_prefix}%",)
            )
        return [str(row[0]) for row in rows]

    def by_name(self, name: str) -> str | None:
        with self._lock:
            rows = self._db.query("SELECT image_id FROM image_names WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    def put(self, image: Image, names: Iterable[str] = ()) -> Image:
        """Insert or replace the record and point ``names`` at it (moving them if needed)."""
        stored = msgspec.structs.replace(image, names=[])
        with self._lock, self._db.transaction() as conn:
            # An upsert, not INSERT OR REPLACE: REPLACE deletes the row first,
            # and the foreign key would cascade that to the image's names.
            conn.execute(
                "INSERT INTO images (id, created_at, record) VALUES (?, ?, ?) ON CONFLICT(id) "
                "DO UPDATE SET created_at = excluded.created_at, record = excluded.record",
                (image.id, image.created, _encoder.encode(stored)),
            )
            conn.executemany(
                "INSERT INTO image_names (name, image_id) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                [(name, image.id) for name in names],
            )
        result = self.get(image.id)
        assert result is not None
        return result

    def untag(self, name: str) -> None:
        with self._lock, self._db.transaction() as conn:
            conn.execute("DELETE FROM image_names WHERE name = ?", (name,))

    def delete(self, image_id: str) -> None:
        """Remove the record and every name of it."""
        with self._lock, self._db.transaction() as conn:
            conn.execute("DELETE FROM image_names WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
