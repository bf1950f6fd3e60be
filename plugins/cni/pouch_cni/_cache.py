"""The on-disk attachment cache, keyed as libcni's: ``<network>-<container>-<ifname>``.

Each file holds one ``CacheEntry`` as JSON, replaced atomically (write to a
temporary file, then rename), so a crash leaves either the old or the new
entry, never half of one. The cache is the source of truth for teardown: a DEL
after an engine restart, or the gc after a crash part-way through an ADD,
reads the configuration and ``prevResult`` from here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import msgspec

from pouch_cni._types import CacheEntry

__all__ = ["AttachmentCache"]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CacheEntry)


class AttachmentCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, network: str, container_id: str, ifname: str) -> Path:
        return self.directory / f"{network}-{container_id}-{ifname}"

    def put(self, entry: CacheEntry) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(entry.networkName, entry.containerId, entry.ifName)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(_encoder.encode(entry))
        os.replace(temporary, path)

    def sweep_partial(self) -> int:
        """Remove entries a crash left half-written (never renamed into place)."""
        if not self.directory.is_dir():
            return 0
        partial = [p for p in self.directory.glob(".*.tmp") if p.is_file()]
        for path in partial:
            path.unlink(missing_ok=True)
        return len(partial)

    def get(self, network: str, container_id: str, ifname: str) -> CacheEntry | None:
        return self._read(self._path(network, container_id, ifname))

    def remove(self, entry: CacheEntry) -> None:
        self._path(entry.networkName, entry.containerId, entry.ifName).unlink(missing_ok=True)

    def all(self) -> list[CacheEntry]:
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith("."):
                continue
            entry = self._read(path)
            if entry is not None:
                entries.append(entry)
        return entries

    def for_container(self, container_id: str) -> list[CacheEntry]:
        if not self.directory.is_dir():
            return []
        paths = sorted(self.directory.glob(f"*-{container_id}-*"))
        entries = [e for e in map(self._read, paths) if e is not None]
        return [e for e in entries if e.containerId == container_id]

    def for_network(self, network: str) -> list[CacheEntry]:
        return [e for e in self.all() if e.networkName == network]

    @staticmethod
    def _read(path: Path) -> CacheEntry | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            return _decoder.decode(data)
        except msgspec.DecodeError:
            # A file we cannot read cannot guide a DEL; move it aside for a human.
            with contextlib.suppress(OSError):
                path.rename(path.with_name(f".{path.name}.corrupt"))
            return None
