"""The CRI socket: held from pouchd's start, served by gRPC from the first client on.

At start a plain listening unix socket takes the path (a socket left by a
pouchd that was killed is replaced), so clients find it at once, yet grpc is
not loaded. When the first client connects, ``start`` brings up the gRPC
server on a path beside it (``.cri.sock.grpc``), which then takes the
socket's name with one rename: later clients connect to gRPC directly, and
at no moment is the path without a listener. The connections that reached
the plain socket meanwhile are taken from its queue and relayed to gRPC for
as long as they last (kubelet keeps one for days); then the plain socket is
closed. Clients that come at the same moment wait for the one start.

A start that fails (grpc cannot be imported, the path beside cannot be
bound) is logged, the waiting clients' connections are closed, and the next
client tries again. On stop the relays, the gRPC server and the path go.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal, Protocol

import anyio
import anyio.abc

from ._relay import relay

__all__ = ["CriSocket", "Server"]

log = logging.getLogger("pouch.cri")

_STOP = 10.0  # seconds the gRPC server may take to stop
_CONNECT = 10.0  # seconds a relay may wait for room in the gRPC server's queue


class Server(Protocol):
    """What ``start`` brings up on the path it is given."""

    async def stop(self) -> None: ...


class CriSocket:
    """``path``, listened on until the first client, then served by ``start(beside)``."""

    def __init__(self, path: Path, start: Callable[[Path], Awaitable[Server]]) -> None:
        self.path = path
        self.beside = path.with_name(f".{path.name}.grpc")
        self._start = start
        self.state: Literal["closed", "listening", "serving"] = "closed"
        self.relayed = 0  # connections the plain socket took and relayed

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.beside.unlink(missing_ok=True)  # left by a pouchd killed while it started gRPC
        listener = _listen(self.path)
        server: Server | None = None
        try:
            self.state = "listening"
            task_status.started()
            server = await self._hand_over(listener)
            self.state = "serving"
            async with anyio.create_task_group() as relays:
                taken = _waiting(listener)
                listener.close()
                for connection in taken:
                    relays.start_soon(self._relay, connection)
                self.relayed = len(taken)
                log.info("%d connection(s) that came before gRPC are relayed to it", len(taken))
                await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                listener.close()
                if server is not None:
                    with anyio.move_on_after(_STOP):
                        await server.stop()
                with contextlib.suppress(OSError):
                    self.path.unlink()
            self.state = "closed"

    async def _hand_over(self, listener: socket.socket) -> Server:
        """Wait for the first client, then start the server and give it the path."""
        while True:
            await anyio.wait_readable(listener)
            try:
                with anyio.CancelScope(shield=True):  # a server half started is not left behind
                    return await self._open()
            except Exception as error:
                log.error(
                    "cannot start the gRPC server for %s (its clients are disconnected): %s",
                    self.path,
                    error,
                )
                log.debug("the gRPC server did not start", exc_info=True)
                for connection in _waiting(listener):
                    connection.close()

    async def _open(self) -> Server:
        began = time.monotonic()
        server = await self._start(self.beside)
        try:
            os.rename(self.beside, self.path)
        except OSError:
            await server.stop()
            raise
        took = (time.monotonic() - began) * 1000
        log.info("first client on %s: the gRPC server started in %.0f ms", self.path, took)
        return server

    async def _relay(self, connection: socket.socket) -> None:
        try:
            client = await anyio.abc.SocketStream.from_socket(connection)
        except OSError:
            connection.close()
            return
        try:
            upstream = await _connect(self.path)
        except OSError as error:
            log.warning("cannot relay a connection to %s: %s", self.path, error)
            await client.aclose()
            return
        try:
            await relay(client, upstream)
        except Exception:  # one client's trouble must not stop the others
            log.exception("relaying a connection to gRPC failed")


async def _connect(path: Path) -> anyio.abc.SocketStream:
    """A connection to ``path``, as a stream over asyncio's transport.

    Not ``anyio.connect_unix``: its raw-socket streams, cancelled as data
    arrives, can leave asyncio a callback that fails (InvalidStateError).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        with anyio.fail_after(_CONNECT):
            while True:
                try:
                    sock.connect(str(path))
                    break
                except BlockingIOError:  # the server's queue is full for now
                    await anyio.sleep(0.01)
        return await anyio.abc.SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise


def _listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        listener.listen(socket.SOMAXCONN)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    return listener


def _waiting(listener: socket.socket) -> list[socket.socket]:
    """The connections in ``listener``'s queue, taken without waiting."""
    taken: list[socket.socket] = []
    while True:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return taken
        except ConnectionAbortedError:  # a client gone before it was taken
            continue
        except OSError as error:  # a full file table: those left are closed with the socket
            log.warning("taking a waiting connection failed: %s", error)
            return taken
        taken.append(connection)
