"""What pouch has asked of a CSI driver for each volume, written before each step.

One JSON file per volume under ``<root>/csi/volumes/``. Next to what the
volume *is* (driver, the driver's volume ID and context, capacity, the
capability it was made with) it holds where each step stands: ``creating``
while ``CreateVolume`` runs, ``controller`` (publishing → published →
unpublishing), ``staging`` (staging → staged → unstaging) and each
container's publication (publishing → published → unpublishing). A state is
written *before* the call it names, so after ``kill -9`` of pouchd the next
start knows what may be half done and finishes it or takes it back.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import msgspec

__all__ = ["Record", "Records"]


class Record(msgspec.Struct, omit_defaults=True, kw_only=True):
    name: str
    driver: str
    volume_id: str = ""
    capacity: int = 0
    context: dict[str, str] = {}
    parameters: dict[str, str] = {}
    fstype: str = ""
    mount_flags: list[str] = []
    access_mode: str = "SINGLE_NODE_WRITER"
    access_type: str = "mount"  # or "block"
    # Named with --opt volume-id: made outside pouch, never deleted by it.
    static: bool = False
    source: str = ""  # "snapshot:ID" or "volume:ID"
    labels: dict[str, str] = {}
    options: dict[str, str] = {}
    created_at: float = 0.0
    creating: bool = False
    controller: str = ""
    publish_context: dict[str, str] = {}
    staging: str = ""
    targets: dict[str, str] = {}
    # The controller grew the volume and the node must grow its filesystem
    # (NodeExpandVolume) once it is staged or published again.
    node_expansion: bool = False
    # The last failure of a step pouch retries (a cleanup), for inspect.
    pending: str = ""

    @property
    def settling(self) -> bool:
        """Whether a step back (unpublish, unstage) is due and not yet done."""
        return (
            self.staging == "unstaging"
            or self.controller == "unpublishing"
            or "unpublishing" in self.targets.values()
        )


class Records:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def get(self, name: str) -> Record | None:
        try:
            return msgspec.json.decode(self._path(name).read_bytes(), type=Record)
        except (FileNotFoundError, msgspec.DecodeError):
            return None

    def put(self, record: Record) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record.name)
        temporary = path.with_suffix(".tmp")
        with open(temporary, "wb") as file:
            file.write(msgspec.json.encode(record))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def all(self) -> list[Record]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            record = self.get(path.stem)
            if record is not None:
                found.append(record)
        return found
