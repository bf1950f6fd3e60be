"""Exec and attach over WebSocket: the ``v5`` and ``v4.channel.k8s.io`` subprotocols.

Every binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr,
3 the error channel (the final status as JSON), 4 terminal sizes (JSON). In
v5 a message ``[255, N]`` closes channel N, which is how a client closes
stdin. ``wsproto`` does the WebSocket framing.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from pouch.engine import Engine

from ._channels import Output, parse_sizes, status_text
from ._remote import run_attach, run_exec

__all__ = ["PROTOCOLS", "WebSocketChannels", "serve_websocket"]

PROTOCOLS = {"v5.channel.k8s.io": 5, "v4.channel.k8s.io": 4}
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


class WebSocketChannels:
    def __init__(
        self,
        transport: anyio.abc.ByteStream,
        receive: BufferedByteReceiveStream,
        connection: WSConnection,
        version: int,
    ) -> None:
        self.transport = transport
        self.receive = receive
        self.ws = connection
        self.version = version
        self._stdin_send, self._stdin = anyio.create_memory_object_stream[bytes](64)
        self._sizes_send, self._sizes = anyio.create_memory_object_stream[tuple[int, int]](16)
        self._closed = anyio.Event()
        self._lock = anyio.Lock()
        self._partial = b""

    async def _send(self, data: bytes) -> None:
        async with self._lock:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await self.transport.send(data)

    async def read_frames(self) -> None:
        """Dispatch the client's messages until it goes away."""
        try:
            while True:
                data = await self.receive.receive()
                self.ws.receive_data(data)
                for event in self.ws.events():
                    await self._event(event)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError, RemoteProtocolError):
            pass
        finally:
            self._closed.set()
            self._stdin_send.close()
            self._sizes_send.close()

    async def _event(self, event: object) -> None:
        if isinstance(event, BytesMessage):
            self._partial += bytes(event.data)
            if event.message_finished:
                message, self._partial = self._partial, b""
                await self._message(message)
        elif isinstance(event, TextMessage):
            await self._message(event.data.encode())
        elif isinstance(event, Ping):
            await self._send(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            with contextlib.suppress(LocalProtocolError):
                await self._send(self.ws.send(event.response()))
            raise anyio.EndOfStream

    async def _message(self, message: bytes) -> None:
        if not message:
            return
        channel, payload = message[0], message[1:]
        if channel == STDIN and payload:
            await self._stdin_send.send(payload)
        elif channel == RESIZE:
            for size in parse_sizes(payload)[0]:
                await self._sizes_send.send(size)
        elif channel == CLOSE and payload[:1] == bytes([STDIN]):
            self._stdin_send.close()

    async def read_stdin(self) -> bytes:
        try:
            return await self._stdin.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""

    async def read_size(self) -> tuple[int, int] | None:
        try:
            return await self._sizes.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return None

    async def write(self, channel: Output, data: bytes) -> None:
        number = STDOUT if channel == "stdout" else STDERR
        await self._send(self.ws.send(BytesMessage(data=bytes([number]) + data)))

    async def finish(self, status: dict[str, Any] | None) -> None:
        text = status_text(status, self.version)
        if text:
            await self._send(self.ws.send(BytesMessage(data=bytes([ERROR]) + text)))
        with contextlib.suppress(LocalProtocolError):
            await self._send(self.ws.send(CloseConnection(code=1000)))

    async def wait_closed(self) -> None:
        await self._closed.wait()


async def _reject(transport: anyio.abc.ByteStream, connection: WSConnection, why: str) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await transport.send(
        connection.send(RejectConnection(status_code=400, headers=headers, has_body=True))
    )
    await transport.send(connection.send(RejectData(data=why.encode() + b"\n")))


async def serve_websocket(
    engine: Engine,
    transport: anyio.abc.ByteStream,
    receive: BufferedByteReceiveStream,
    head: bytes,
    kind: str,
    request: Any,
) -> None:
    """Upgrade the HTTP request ``head`` to WebSocket and run an exec or attach session."""
    connection = WSConnection(ConnectionType.SERVER)
    connection.receive_data(head)
    handshake = next((e for e in connection.events() if isinstance(e, Request)), None)
    if handshake is None:
        return
    chosen = next((p for p in handshake.subprotocols if p in PROTOCOLS), "")
    if kind == "portforward":
        await _reject(transport, connection, "port forwarding is served over SPDY/3.1")
        return
    if not chosen:
        await _reject(transport, connection, f"subprotocols supported: {', '.join(PROTOCOLS)}")
        return
    await transport.send(connection.send(AcceptConnection(subprotocol=chosen)))
    channels = WebSocketChannels(transport, receive, connection, PROTOCOLS[chosen])
    run = run_exec if kind == "exec" else run_attach
    async with anyio.create_task_group() as group:
        group.start_soon(channels.read_frames)
        await run(engine, request, channels)
        group.cancel_scope.cancel()
