"""HTTP/1.1 to pouchd over one socket, written and parsed here.

The CLI sends one request per connection and reads one answer, whole or as a
stream: a few dozen lines do that, and spare every command the start-up cost
of ``http.client`` (which pulls in the ``email`` package to parse headers).
Bodies are sent with ``Content-Length`` when their size is known, else
chunked; answers are read by ``Content-Length``, chunked, or to the close.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Mapping
    from typing import Any, BinaryIO

__all__ = ["Connection", "ProtocolError", "WireResponse"]

_BLOCK = 65536
_NO_BODY = {"GET", "HEAD", "DELETE", "OPTIONS"}


class ProtocolError(OSError):
    """pouchd's answer broke off or was not HTTP."""


class Connection:
    """One connected socket and the request sent on it."""

    def __init__(self, sock: socket, host: str = "localhost") -> None:
        self.sock = sock
        self.host = host
        self._method = "GET"

    def request(
        self, method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send the request line, headers and body (bytes or a binary file)."""
        sent = {"Host": self.host, "Accept-Encoding": "identity", **(headers or {})}
        lowered = {k.lower() for k in sent}
        chunked = False
        if isinstance(body, bytes | bytearray | memoryview):
            sent["Content-Length"] = str(len(body))
        elif body is None:
            if method not in _NO_BODY:
                sent["Content-Length"] = "0"
        elif "content-length" not in lowered:
            sent["Transfer-Encoding"] = "chunked"
            chunked = True
        head = f"{method} {url} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items())
        self._method = method
        if body is None or isinstance(body, bytes | bytearray | memoryview):
            self.sock.sendall(head.encode("latin-1") + b"\r\n" + bytes(body or b""))
            return
        self.sock.sendall(head.encode("latin-1") + b"\r\n")
        self._send_file(body, chunked)

    def _send_file(self, body: BinaryIO, chunked: bool) -> None:
        while block := body.read(_BLOCK):
            if chunked:
                self.sock.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
            else:
                self.sock.sendall(block)
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    def getresponse(self) -> WireResponse:
        """Read the answer's head; the body is read through the response."""
        return WireResponse(_Reader(self.sock), self._method)

    def close(self) -> None:
        self.sock.close()


class _Reader:
    """Buffered reads from a socket: lines of the head, then the body as it comes."""

    def __init__(self, sock: socket) -> None:
        self._sock = sock
        self._buf = b""

    def readline(self, limit: int) -> bytes:
        while b"\n" not in self._buf and len(self._buf) < limit:
            data = self._sock.recv(_BLOCK)
            if not data:
                break
            self._buf += data
        end = self._buf.find(b"\n", 0, limit) + 1 or min(limit, len(self._buf))
        line, self._buf = self._buf[:end], self._buf[end:]
        return line

    def read1(self, size: int) -> bytes:
        if not self._buf:
            return self._sock.recv(size)
        data, self._buf = self._buf[:size], self._buf[size:]
        return data

    def take(self) -> bytes:
        """What is buffered and not yet read, emptying the buffer."""
        data, self._buf = self._buf, b""
        return data

    def close(self) -> None:
        self._buf = b""


class WireResponse:
    """An answer's status and headers, and its body as it arrives."""

    def __init__(self, rfile: _Reader, method: str) -> None:
        self._rfile = rfile
        while True:
            line = rfile.readline(_BLOCK)
            parts = line.decode("latin-1").split(" ", 2)
            if not line:
                raise ProtocolError("the connection closed before an answer")
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ProtocolError(f"not an HTTP answer: {line[:80]!r}")
            self.status = int(parts[1])
            self.headers = self._read_headers()
            if self.status != 100:
                break
        encoding = self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length", "")
        self._chunked = "chunked" in encoding
        self._left: int | None = None  # bytes left in the body (None: to the close)
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._left = 0
        elif not self._chunked and length.isdigit():
            self._left = int(length)
        self._chunk_left = 0
        self._done = self._left == 0

    def _read_headers(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        while True:
            line = self._rfile.readline(_BLOCK)
            if not line:
                raise ProtocolError("the connection closed inside the answer's headers")
            if line in (b"\r\n", b"\n"):
                return fields
            name, _, value = line.decode("latin-1").partition(":")
            key = name.strip().lower()
            fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()

    def leftover(self) -> bytes:
        """Bytes that came after the head and were not read: the first bytes of a
        connection taken over after ``101`` (attach, exec)."""
        return self._rfile.take()

    def getheader(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def read1(self, size: int = _BLOCK) -> bytes:
        """Some of the body, as soon as some is there; ``b""`` at its end."""
        if self._done:
            return b""
        if self._chunked:
            return self._read_chunk(size)
        want = size if self._left is None else min(size, self._left)
        data: bytes = self._rfile.read1(want)
        if self._left is not None:
            if not data:
                raise ProtocolError("the connection closed inside the answer's body")
            self._left -= len(data)
            self._done = self._left == 0
        elif not data:
            self._done = True
        return data

    def _read_chunk(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._rfile.readline(_BLOCK)
            if not line:
                raise ProtocolError("the connection closed inside a chunked body")
            try:
                self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"a malformed chunk size: {line[:40]!r}") from None
            if self._chunk_left == 0:
                while self._rfile.readline(_BLOCK) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return b""
        data: bytes = self._rfile.read1(min(size, self._chunk_left))
        if not data:
            raise ProtocolError("the connection closed inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile.readline(_BLOCK)  # the chunk's CRLF
        return data

    def read(self) -> bytes:
        """The rest of the body."""
        parts = []
        while data := self.read1():
            parts.append(data)
        return b"".join(parts)

    def close(self) -> None:
        self._rfile.close()
