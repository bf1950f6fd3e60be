"""A writer of the ``newc`` cpio format the kernel unpacks as an initramfs.

Entries are written with the owner, mode and time given here, not taken from
the build machine, so an unprivileged build makes a root-owned guest tree and
the same inputs give the same bytes.
"""

from __future__ import annotations

import gzip
import stat
from typing import BinaryIO

__all__ = ["CpioWriter", "read_newc"]

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


class CpioWriter:
    """Append directories, files and symlinks; ``close()`` writes the trailer."""

    def __init__(self, out: BinaryIO, *, mtime: int = 0) -> None:
        self._out = out
        self._mtime = mtime
        self._ino = 1
        self._written = 0
        self._names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes, *, nlink: int = 1) -> None:
        name = name.strip("/") or "."
        if name in self._names and name != _TRAILER:
            raise ValueError(f"cpio: {name} written twice")
        self._names.add(name)
        encoded = name.encode() + b"\0"
        fields = (
            self._ino,
            mode,
            0,  # uid
            0,  # gid
            nlink,
            self._mtime,
            len(data),
            0,  # devmajor
            0,  # devminor
            0,  # rdevmajor
            0,  # rdevminor
            len(encoded),
            0,  # check
        )
        self._ino += 1
        header = _MAGIC + b"".join(b"%08X" % f for f in fields)
        chunk = header + encoded
        chunk += _pad(len(chunk)) + data + _pad(len(data))
        self._out.write(chunk)
        self._written += len(chunk)

    def directory(self, name: str, perm: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | perm, b"", nlink=2)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def close(self) -> None:
        self._entry(_TRAILER, 0, b"")
        # The kernel reads the archive in 512-byte blocks, as cpio writes it.
        self._out.write(b"\0" * (-self._written % 512))


def read_newc(blob: bytes) -> list[tuple[str, int, bytes]]:
    """The (name, mode, data) entries of a newc archive, gzip-compressed or not."""
    if blob.startswith(b"\x1f\x8b"):
        blob = gzip.decompress(blob)
    entries: list[tuple[str, int, bytes]] = []
    i = 0
    while True:
        if blob[i : i + 6] != _MAGIC:
            raise ValueError(f"cpio: bad magic at {i}")
        fields = [int(blob[i + 6 + 8 * n : i + 14 + 8 * n], 16) for n in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        i += 110
        name = blob[i : i + namesize - 1].decode()
        i += namesize
        i += -i % 4
        data = blob[i : i + size]
        i += size
        i += -i % 4
        if name == _TRAILER:
            return entries
        entries.append((name, mode, data))
