"""The streaming server: where ``Exec``, ``Attach`` and ``PortForward`` send clients.

Each of those gRPC calls checks its request and answers a one-time URL on
this server (``http://127.0.0.1:PORT/exec/TOKEN``), as containerd and CRI-O
do; the token expires after a minute. The client then upgrades its HTTP
request to SPDY/3.1 (kubelet, kubectl, crictl) or to WebSocket, naming the
subprotocols it speaks: ``v4.channel.k8s.io`` down to ``channel.k8s.io`` for
exec and attach (WebSocket: ``v5`` and ``v4``), ``portforward.k8s.io`` for
port forwarding. The server listens on 127.0.0.1 only; ``[plugin.cri]
stream_port`` fixes its port (default: any free one).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from pouch.engine import Engine

from ._channels import SpdyChannels
from ._remote import connect_in_netns, run_attach, run_exec
from .spdy import Session, Stream

__all__ = ["HttpRequest", "StreamServer"]

log = logging.getLogger("pouch.cri.streaming")

_TOKEN_TTL = 60.0
_CHANNEL_VERSIONS = {
    "v4.channel.k8s.io": 4,
    "v3.channel.k8s.io": 3,
    "v2.channel.k8s.io": 2,
    "channel.k8s.io": 1,
}
PORT_FORWARD_PROTOCOL = "portforward.k8s.io"
_STREAM_SETUP = 30.0


@dataclass
class _Pending:
    kind: str  # exec, attach, portforward
    request: Any
    netns: str
    expires: float


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, list[str]]
    raw: bytes

    def values(self, name: str) -> list[str]:
        """Every value of a header, comma lists split."""
        return [v.strip() for line in self.headers.get(name.lower(), []) for v in line.split(",")]


async def read_request(receive: BufferedByteReceiveStream) -> HttpRequest:
    head = await receive.receive_until(b"\r\n\r\n", 65536)
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" "), "", ""][:3]
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return HttpRequest(method, path, headers, head + b"\r\n\r\n")


def _response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    if status[:3] != "101":
        lines += [f"Content-Length: {len(body)}", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class StreamServer:
    """Tokens for pending sessions, and the HTTP listener that serves them."""

    def __init__(self, engine: Engine, port: int = 0) -> None:
        self.engine = engine
        self.port = port
        self._pending: dict[str, _Pending] = {}
        self.ready = anyio.Event()

    def url(self, kind: str, request: Any, netns: str = "") -> str:
        """A one-time URL for a session of ``kind`` with ``request``'s options."""
        now = time.monotonic()
        for token in [t for t, p in self._pending.items() if p.expires < now]:
            del self._pending[token]
        token = secrets.token_urlsafe(16)
        self._pending[token] = _Pending(kind, request, netns, now + _TOKEN_TTL)
        return f"http://127.0.0.1:{self.port}/{kind}/{token}"

    async def serve(self) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        async with listener:
            self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
            self.ready.set()
            await listener.serve(self._connection)

    async def _connection(self, transport: anyio.abc.SocketStream) -> None:
        async with transport:
            receive = BufferedByteReceiveStream(transport)
            try:
                with anyio.fail_after(30):
                    request = await read_request(receive)
            except (TimeoutError, anyio.IncompleteRead, anyio.DelimiterNotFound, OSError):
                return  # a client that never sent a whole request
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return  # or went away first
            try:
                await self._dispatch(transport, receive, request)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass
            except Exception:
                log.exception("streaming %s %s failed", request.method, request.path)

    async def _dispatch(
        self,
        transport: anyio.abc.SocketStream,
        receive: BufferedByteReceiveStream,
        request: HttpRequest,
    ) -> None:
        kind, _, token = request.path.strip("/").partition("/")
        token = token.split("?")[0]
        pending = self._pending.pop(token, None)
        if pending is None or pending.kind != kind or pending.expires < time.monotonic():
            await transport.send(_response("404 Not Found", {}, b"unknown or expired session\n"))
            return
        upgrade = (request.values("upgrade") or [""])[0].lower()
        if upgrade == "websocket":
            from ._websocket import serve_websocket  # wsproto on first use, not at idle

            await serve_websocket(
                self.engine, transport, receive, request.raw, kind, pending.request
            )
        elif upgrade.startswith("spdy/3"):
            await self._spdy(transport, receive, request, pending)
        else:
            body = b"upgrade to SPDY/3.1 or websocket to use this session\n"
            await transport.send(_response("400 Bad Request", {}, body))

    async def _spdy(
        self,
        transport: anyio.abc.SocketStream,
        receive: BufferedByteReceiveStream,
        request: HttpRequest,
        pending: _Pending,
    ) -> None:
        offered = request.values("x-stream-protocol-version")
        if pending.kind == "portforward":
            chosen = (
                PORT_FORWARD_PROTOCOL if PORT_FORWARD_PROTOCOL in offered or not offered else ""
            )
        else:
            chosen = next((p for p in offered if p in _CHANNEL_VERSIONS), "")
            chosen = chosen or ("" if offered else "channel.k8s.io")
        if not chosen:
            body = f"unable to upgrade: none of {offered} is supported\n".encode()
            await transport.send(_response("403 Forbidden", {}, body))
            return
        headers = {
            "Connection": "Upgrade",
            "Upgrade": "SPDY/3.1",
            "X-Stream-Protocol-Version": chosen,
        }
        await transport.send(_response("101 Switching Protocols", headers))
        session = Session(transport, client=False, buffered=receive)
        async with anyio.create_task_group() as group:
            group.start_soon(session.serve)
            try:
                if pending.kind == "portforward":
                    await self._port_forward(session, pending)
                else:
                    await self._remote_command(session, pending, _CHANNEL_VERSIONS[chosen])
            finally:
                group.cancel_scope.cancel()

    async def _remote_command(self, session: Session, pending: _Pending, version: int) -> None:
        request = pending.request
        expected = {"error"}
        expected |= {"stdin"} if request.stdin else set()
        expected |= {"stdout"} if request.stdout else set()
        expected |= {"stderr"} if request.stderr and not request.tty else set()
        expected |= {"resize"} if request.tty and version >= 3 else set()
        streams: dict[str, Stream] = {}
        with anyio.move_on_after(_STREAM_SETUP):
            while not expected <= streams.keys():
                stream = await session.accept()
                if stream is None:
                    return
                streams[stream.header("streamtype")] = stream
        if not expected <= streams.keys():
            log.warning("streaming: the client opened %s of %s", sorted(streams), sorted(expected))
            return
        channels = SpdyChannels(session, streams, version)
        run = run_exec if pending.kind == "exec" else run_attach
        await run(self.engine, request, channels)

    async def _port_forward(self, session: Session, pending: _Pending) -> None:
        allowed = set(pending.request.port)
        errors: dict[str, Stream] = {}
        async with anyio.create_task_group() as group:
            while (stream := await session.accept()) is not None:
                request_id = stream.header("requestid")
                if stream.header("streamtype") == "error":
                    errors[request_id] = stream
                    continue
                port = int(stream.header("port") or 0)
                error = errors.pop(request_id, None)
                group.start_soon(self._forward, pending.netns, port, allowed, stream, error)
            group.cancel_scope.cancel()

    async def _forward(
        self, netns: str, port: int, allowed: set[int], data: Stream, error: Stream | None
    ) -> None:
        async def fail(message: str) -> None:
            if error is not None:
                await error.send(message.encode())
                await error.close()
            await data.close()

        if allowed and port not in allowed:
            await fail(f"port {port} was not asked for in this port forward")
            return
        try:
            connection = await connect_in_netns(netns, port)
        except OSError as exc:
            await fail(f"failed to connect to localhost:{port} inside the pod: {exc.strerror}")
            return
        async with connection, anyio.create_task_group() as group:

            async def to_pod() -> None:
                while chunk := await data.receive():
                    await connection.send(chunk)
                with contextlib.suppress(OSError, anyio.BrokenResourceError):
                    await connection.send_eof()

            group.start_soon(to_pod)
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                while True:
                    await data.send(await connection.receive())
            await data.close()
            if error is not None:
                await error.close()
