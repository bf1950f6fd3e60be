"""Stream formats of the Docker Engine API: JSON message streams, the multiplexed
stdout/stderr stream (8-byte frame headers) and HTTP chunked bodies read by hand.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

__all__ = ["Demuxer", "dechunk", "json_messages"]

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3


def json_messages(chunks: Iterable[bytes]) -> Iterator[Any]:
    """Decode JSON values that follow each other, whether or not newlines separate them."""
    import json

    decoder = json.JSONDecoder()
    buf = ""
    pending = b""
    for chunk in chunks:
        pending += chunk
        try:
            buf += pending.decode("utf-8")
            pending = b""
        except UnicodeDecodeError:
            continue  # a multi-byte character split between chunks
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                value, end = decoder.raw_decode(buf)
            except ValueError:
                break  # incomplete: wait for more
            yield value
            buf = buf[end:]
    if buf.strip():
        yield json.loads(buf)


class Demuxer:
    """Splits the multiplexed stream into stdout and stderr writes.

    Each frame is ``[stream, 0, 0, 0, size (4 bytes big-endian)]`` then the payload.
    Stream 3 (``systemerr``) carries an error from the daemon and is written to
    stderr, as the docker CLI does.
    """

    def __init__(self, out: Callable[[bytes], object], err: Callable[[bytes], object]) -> None:
        self._out = out
        self._err = err
        self._buf = b""

    def feed(self, data: bytes) -> None:
        self._buf += data
        while len(self._buf) >= 8:
            stream = self._buf[0]
            size = int.from_bytes(self._buf[4:8], "big")
            if len(self._buf) < 8 + size:
                return
            payload = self._buf[8 : 8 + size]
            self._buf = self._buf[8 + size :]
            (self._out if stream in (STDIN, STDOUT) else self._err)(payload)

    @property
    def pending(self) -> int:
        return len(self._buf)


def dechunk(data: bytes) -> bytes:
    """The payload of an HTTP/1.1 chunked body held entirely in ``data``."""
    out = b""
    while data:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out
