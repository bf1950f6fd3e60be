"""The hijacked connection of ``attach`` and ``exec start``, written and parsed by hand.

After ``101 UPGRADED`` the socket carries raw stream bytes both ways; a buffered
reader would keep some of them in its buffer, so the request line and headers are
written, and the answer's head read, here. An error answer (``404``, ``409``)
is read in full so its ``message`` can be reported.
"""

from __future__ import annotations

import _socket
import contextlib

from pouch.cli._errors import CLIError, ConnectionLost
from pouch.cli._streams import dechunk

__all__ = ["Hijacked", "read_error_body", "read_head"]


class Hijacked:
    """A connection taken over after ``101``: raw stream bytes both ways.

    ``leftover`` holds stream bytes that arrived with the answer's head.
    """

    def __init__(self, sock: _socket.socket, leftover: bytes, content_type: str) -> None:
        self.sock = sock
        self.leftover = leftover
        self.content_type = content_type

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def read_head(sock: _socket.socket) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionLost("pouchd closed the connection before answering")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise CLIError(f"pouchd sent a malformed answer: {lines[0]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(parts[1]), fields, rest


def read_error_body(sock: _socket.socket, fields: dict[str, str], rest: bytes) -> bytes:
    length = fields.get("content-length", "")
    chunked = "chunked" in fields.get("transfer-encoding", "")
    sock.settimeout(5)
    try:
        while True:
            if length.isdigit() and len(rest) >= int(length):
                return rest[: int(length)]
            if chunked and rest.endswith(b"0\r\n\r\n"):
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    except OSError:
        pass
    if chunked:
        return dechunk(rest)
    return rest
