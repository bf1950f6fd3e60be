"""HTTP/1.1 on anyio byte streams, parsed by h11: requests in, responses out.

Owns the wire: one task per connection, keep-alive, request bodies read lazily
(buffered up to a limit, or streamed for image uploads), ``Expect:
100-continue``, streamed responses in chunked encoding, and the connection
*hijack* that docker's attach and exec use (``101 UPGRADED``, then raw bytes
both ways). What a request means is ``pouch.daemon.routing``'s business; this
module must not know any endpoint.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import anyio.abc
import h11

from pouch.daemon.replies import BodyTooLarge, Hijack, Hijacked, Reply, Response, Stream

__all__ = [
    "MAX_BODY",
    "BodyTooLarge",
    "ConnectionHandler",
    "Hijack",
    "Hijacked",
    "Reply",
    "Request",
    "Response",
    "Stream",
]

log = logging.getLogger("pouch.daemon")

MAX_BODY = 16 * 1024 * 1024
_MAX_HEADERS = 64 * 1024
_RECEIVE = 65536
# An unread request body is skipped up to this many bytes, so the client can
# read its answer; a larger one closes the connection.
_DRAIN_LIMIT = 256 * 1024 * 1024
_DRAIN_SECONDS = 30.0
_IDLE_SECONDS = 600.0


class Request:
    """One request: method, target, headers; the body is read on demand."""

    def __init__(self, conn: _Connection, event: h11.Request) -> None:
        self._conn = conn
        self.method = event.method.decode("ascii", "replace").upper()
        self.target = event.target.decode("latin-1")
        self.headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        self.upgrade = "upgrade" in self.headers
        path, _, query = self.target.partition("?")
        self.path = urllib.parse.unquote(path)
        self.query: dict[str, list[str]] = urllib.parse.parse_qs(query, keep_blank_values=True)
        # Set by the router: the path without its version prefix, the API
        # version asked for, and the route's parameters.
        self.route_path = self.path
        self.api_version = (1, 41)
        self.params: dict[str, str] = {}
        self._body_done = False

    async def body(self, limit: int = MAX_BODY) -> bytes:
        """The whole body; ``BodyTooLarge`` past ``limit`` bytes."""
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(limit)
        parts: list[bytes] = []
        size = 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            parts.append(chunk)
        return b"".join(parts)

    async def stream(self) -> AsyncIterator[bytes]:
        """The body in chunks as they arrive (no limit: for image uploads)."""
        if self._body_done:
            return
        conn = self._conn
        if conn.h11.they_are_waiting_for_100_continue:
            await conn.send(h11.InformationalResponse(status_code=100, headers=[]))
        while True:
            event = await conn.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._body_done = True
                return
            else:  # the client went away mid-body
                self._body_done = True
                raise anyio.EndOfStream


Dispatch = Callable[[Request], Awaitable[Reply]]
ErrorReply = Callable[[int, str], Response]


class _RawStream:
    def __init__(self, stream: anyio.abc.ByteStream, initial: bytes, closed: bool) -> None:
        self._stream = stream
        self._initial = initial
        self._closed = closed

    async def receive(self) -> bytes:
        if self._initial:
            data, self._initial = self._initial, b""
            return data
        if self._closed:
            return b""
        try:
            return await self._stream.receive(_RECEIVE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._closed = True
            return b""

    async def send(self, data: bytes) -> None:
        await self._stream.send(data)


class _Connection:
    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADERS)

    async def next_event(self) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            try:
                data = await self.stream.receive(_RECEIVE)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                data = b""
            self.h11.receive_data(data)

    async def send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            await self.stream.send(data)


_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)


def _connection_ended(exc: BaseException) -> bool:
    """True when ``exc`` ends just this connection: the client went away (quietly)
    or a bug in a handler (logged). Cancellation and interpreter exit go on, so
    that one connection never takes the daemon down and shutdown still works."""
    fatal = (anyio.get_cancelled_exc_class(), KeyboardInterrupt, SystemExit)
    if isinstance(exc, BaseExceptionGroup):
        if exc.split(fatal)[0] is not None:
            return False
        rest = exc.split(_GONE)[1]
        if rest is not None:
            log.error("connection handler failed", exc_info=rest)
        return True
    if isinstance(exc, _GONE):
        return True
    if isinstance(exc, Exception):
        log.exception("connection handler failed")
        return True
    return False


class ConnectionHandler:
    """Serves every request of one connection with ``dispatch``."""

    def __init__(
        self,
        dispatch: Dispatch,
        error_reply: ErrorReply,
        common_headers: Callable[[], list[tuple[str, str]]],
    ) -> None:
        self.dispatch = dispatch
        self.error_reply = error_reply
        self.common_headers = common_headers

    async def __call__(self, stream: anyio.abc.ByteStream) -> None:
        conn = _Connection(stream)
        try:
            async with stream:
                await self._serve(conn)
        except BaseException as exc:
            if not _connection_ended(exc):
                raise

    async def _serve(self, conn: _Connection) -> None:
        while True:
            try:
                with anyio.fail_after(_IDLE_SECONDS):
                    event = await conn.next_event()
            except TimeoutError:
                return
            except h11.RemoteProtocolError as exc:
                if conn.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    error = self.error_reply(exc.error_status_hint, f"bad request: {exc}")
                    await self._send(conn, None, error)
                return
            if not isinstance(event, h11.Request):
                return  # closed, or a protocol switch we did not agree to
            request = Request(conn, event)
            started = time.monotonic()
            reply = await self.dispatch(request)
            status = reply.status if not isinstance(reply, Hijack) else 101
            log.debug(
                "%s %s -> %d (%.1f ms)",
                request.method,
                request.target,
                status,
                (time.monotonic() - started) * 1000,
            )
            if isinstance(reply, Hijack):
                await self._hijack(conn, request, reply)
                return
            await self._send(conn, request, reply)
            if not await self._finish_body(conn, request):
                return
            if conn.h11.our_state is not h11.DONE or conn.h11.their_state is not h11.DONE:
                return
            conn.h11.start_next_cycle()

    async def _finish_body(self, conn: _Connection, request: Request) -> bool:
        """Skip what the handler left unread; False when the connection must close."""
        if request._body_done or conn.h11.their_state is not h11.SEND_BODY:
            return conn.h11.their_state is h11.DONE
        if conn.h11.they_are_waiting_for_100_continue:
            return False  # the client never sent the body: nothing to skip
        skipped = 0
        with anyio.move_on_after(_DRAIN_SECONDS):
            async for chunk in request.stream():
                skipped += len(chunk)
                if skipped > _DRAIN_LIMIT:
                    return False
            return True
        return False

    def _headers(self, extra: list[tuple[str, str]], content_type: str) -> list[tuple[str, str]]:
        headers = [*self.common_headers(), *extra]
        if content_type:
            headers.append(("Content-Type", content_type))
        return headers

    async def _send(self, conn: _Connection, request: Request | None, reply: Reply) -> None:
        head = request is not None and request.method == "HEAD"
        if isinstance(reply, Response):
            headers = self._headers(reply.headers, reply.content_type if reply.body else "")
            if reply.status not in (204, 304):
                headers.append(("Content-Length", str(len(reply.body))))
            await conn.send(h11.Response(status_code=reply.status, headers=headers))
            if reply.body and not head and reply.status not in (204, 304):
                await conn.send(h11.Data(data=reply.body))
            await conn.send(h11.EndOfMessage())
            return
        assert isinstance(reply, Stream)
        headers = self._headers(reply.headers, reply.content_type)
        await conn.send(h11.Response(status_code=reply.status, headers=headers))
        if not head:
            await self._pump(conn, reply.chunks)
        await conn.send(h11.EndOfMessage())

    async def _pump(self, conn: _Connection, chunks: AsyncIterator[bytes]) -> None:
        """Send chunks as they come; stop when the client hangs up, even while idle."""
        gone = False
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                # The client sends nothing more on this cycle; EOF means it left.
                nonlocal gone
                while True:
                    try:
                        data = await conn.stream.receive(_RECEIVE)
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        gone = True
                        tg.cancel_scope.cancel()
                        return
                    conn.h11.receive_data(data)  # a pipelined request: kept for later

            tg.start_soon(watch)
            try:
                async for chunk in chunks:
                    if chunk:
                        await conn.send(h11.Data(data=chunk))
            finally:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):
                        await aclose()
            tg.cancel_scope.cancel()
        if gone:
            raise anyio.BrokenResourceError

    async def _hijack(self, conn: _Connection, request: Request, reply: Hijack) -> None:
        if not request._body_done:
            async for _ in request.stream():
                pass
        if request.upgrade:
            status = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        else:
            status = b"HTTP/1.1 200 OK\r\n"
        lines = [status]
        for name, value in self._headers([], reply.content_type):
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(b"\r\n")
        await conn.stream.send(b"".join(lines))
        initial, closed = conn.h11.trailing_data
        await reply.run(_RawStream(conn.stream, initial, closed))
