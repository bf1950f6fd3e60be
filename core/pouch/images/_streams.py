"""Layer streams: sniffing compression, decompressing, hashing what is read.

Owns turning a layer blob (uncompressed, gzip, or zstd when the ``zstandard``
module is importable) into a readable uncompressed tar stream whose sha256 is
the diffID. It must not interpret the tar: that is ``_layers``' job. Blocking.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
from typing import Any, BinaryIO, Protocol, cast

from pouch.errors import NotSupported

__all__ = ["Hashing", "Readable", "decompressed", "write_all"]

_CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Prefixed:
    """A stream with the bytes already read to sniff its compression put back."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                data, self._head = self._head, b""
                if size < 0:
                    return data + self._rest.read()
                return data + (self._rest.read(size - len(data)) if size > len(data) else b"")
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


class Hashing:
    """Hashes everything read through it: the diffID of the uncompressed tar."""

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    # tarfile's stream mode only reads, but its type asks for a full file object.
    def write(self, b: bytes, /) -> int:
        raise OSError(errno.EBADF, "read-only stream")

    def tell(self) -> int:
        raise OSError(errno.ESPIPE, "not seekable")

    def seek(self, pos: int, /) -> int:
        raise OSError(errno.ESPIPE, "not seekable")

    def close(self) -> None:
        pass


def decompressed(stream: BinaryIO) -> Readable:
    head = stream.read(4)
    raw = _Prefixed(head, stream)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=cast(Any, raw), mode="rb")
    if head == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise NotSupported(
                "the layer is zstd-compressed; install the 'zstandard' module to unpack it"
            ) from None
        return cast(Readable, zstandard.ZstdDecompressor().stream_reader(cast(Any, raw)))
    return raw


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
