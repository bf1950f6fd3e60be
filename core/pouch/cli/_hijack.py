"""The hijacked connection of ``attach`` and ``exec start``.

After ``101 UPGRADED`` the socket carries raw stream bytes both ways. The
request and the answer's head go through ``pouch.cli._wire``; the bytes that
arrived behind the head are handed over with the socket.
"""

from __future__ import annotations

import _socket

__all__ = ["Hijacked"]


class Hijacked:
    """A connection taken over after ``101``: raw stream bytes both ways.

    ``leftover`` holds stream bytes that arrived with the answer's head.
    """

    def __init__(self, sock: _socket.socket, leftover: bytes, content_type: str) -> None:
        self.sock = sock
        self.leftover = leftover
        self.content_type = content_type

    def close(self) -> None:
        try:  # noqa: SIM105 - contextlib costs the start-up
            self.sock.close()
        except OSError:
            pass
