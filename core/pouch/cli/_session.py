"""Moving bytes over a hijacked connection: stdin up, output down, detach keys.

``pump`` runs until the container closes the stream (it exited, or stdin was
closed and its output ended) or the user types the detach sequence. Without a
TTY the output is the multiplexed stream, split here into stdout and stderr.
When local stdin ends the socket is half-closed, which the daemon passes on
as end-of-file to the container (``echo hi | pouch run -i busybox cat``).
"""

from __future__ import annotations

import _socket
import os
import select
import sys

from pouch.cli._hijack import Hijacked
from pouch.cli._streams import Demuxer

__all__ = ["DEFAULT_DETACH_KEYS", "DetachDetector", "pump"]

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q


class DetachDetector:
    """Holds back keys that could begin the detach sequence until it is clear they do not."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Returns the bytes to send on, and whether the whole sequence was typed."""
        out = bytearray()
        for value in data:
            key = bytes([value])
            candidate = self._held + key
            if not self.keys.startswith(candidate):
                out += self._held
                self._held = b""
                candidate = key
                if not self.keys.startswith(candidate):
                    out += key
                    continue
            if candidate == self.keys:
                self._held = b""
                return bytes(out), True
            self._held = candidate
        return bytes(out), False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _half_close(sock: _socket.socket) -> None:
    if hasattr(sock, "pending"):
        return  # TLS: a half-close would tear the session down; the daemon sees EOF at exit
    try:  # noqa: SIM105 - contextlib costs the start-up
        sock.shutdown(_socket.SHUT_WR)
    except OSError:
        pass


def pump(
    conn: Hijacked,
    *,
    stdin_fd: int | None,
    tty: bool,
    detach_keys: bytes | None = DEFAULT_DETACH_KEYS,
    out_fd: int | None = None,
    err_fd: int | None = None,
) -> bool:
    """Run the session; True when the user detached, False when the stream ended."""
    sys.stdout.flush()
    sys.stderr.flush()
    out = sys.stdout.fileno() if out_fd is None else out_fd
    err = sys.stderr.fileno() if err_fd is None else err_fd
    demux = None if tty else Demuxer(lambda b: _write_all(out, b), lambda b: _write_all(err, b))

    def deliver(data: bytes) -> None:
        if demux is None:
            _write_all(out, data)
        else:
            demux.feed(data)

    detector = DetachDetector(detach_keys) if detach_keys and tty else None
    sock = conn.sock
    if conn.leftover:
        deliver(conn.leftover)
    # poll() rather than selectors: the same calls, without that module's imports.
    poller = select.poll()
    sock_fd = sock.fileno()
    poller.register(sock_fd, select.POLLIN)
    if stdin_fd is not None:
        poller.register(stdin_fd, select.POLLIN)
    while True:
        for fd, _ in poller.poll():
            if fd == sock_fd:
                try:
                    data = sock.recv(65536)
                except (ConnectionResetError, TimeoutError):
                    data = b""
                if not data:
                    return False
                deliver(data)
                # TLS keeps decrypted bytes that poll() cannot see: drain them now.
                pending = getattr(sock, "pending", None)
                while pending is not None and pending() > 0:
                    deliver(sock.recv(65536))
                continue
            assert stdin_fd is not None
            data = os.read(stdin_fd, 4096)
            if not data:
                poller.unregister(stdin_fd)
                _half_close(sock)
                continue
            detached = False
            if detector is not None:
                data, detached = detector.feed(data)
            if data:
                try:
                    sock.sendall(data)
                except (BrokenPipeError, ConnectionResetError):
                    poller.unregister(stdin_fd)
            if detached:
                # pouchd watches for the same keys: it ends the attach and,
                # unlike a closed connection, leaves the container's stdin open.
                try:  # noqa: SIM105 - contextlib costs the start-up
                    sock.sendall(detector.keys if detector is not None else b"")
                except OSError:
                    pass
                return True
