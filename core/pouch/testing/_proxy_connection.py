"""One client connection of a ``FaultyProxy``: requests read, passed on or faulted.

Owns reading HTTP/1.1 requests from the client (bodies by length or
chunked), passing them to the registry over a kept-alive connection of its
own, sending the answer back (hop-by-hop headers dropped, bodies by
length) and doing a rule's fault on the way. It must not pick rules: the
proxy does, through the ``Proxy`` it is given.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
from collections.abc import Iterator
from typing import BinaryIO, Protocol

import msgspec

from pouch.testing._faults import Fault, Record, Rule

__all__ = ["POLL", "Connection", "Proxy"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_CHUNK = 64 << 10
POLL = 0.05
_UPSTREAM_TIMEOUT = 30.0
_MAX_LINE = 64 << 10
_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}


class Proxy(Protocol):
    """What a connection needs of its proxy."""

    upstream: str
    ranges: bool
    stopping: threading.Event

    def rule_for(self, method: str, path: str) -> Rule | None: ...

    def record(self, record: Record) -> None: ...


class _ClientGone(Exception):
    """The client closed its connection (or the proxy is stopping)."""


class _Request(msgspec.Struct, kw_only=True):
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


def _read_request(reader: BinaryIO) -> _Request | None:
    """One request from the client; None when it closed the connection between requests."""
    line = reader.readline(_MAX_LINE)
    while line in (b"\r\n", b"\n"):
        line = reader.readline(_MAX_LINE)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        raw = reader.readline(_MAX_LINE)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    found = {name.lower(): value for name, value in headers}
    body = b""
    if found.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int(reader.readline(_MAX_LINE).split(b";")[0].strip() or b"0", 16):
            parts.append(reader.read(size))
            reader.readline(_MAX_LINE)
        while reader.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        body = b"".join(parts)
    elif found.get("content-length", "").isdigit():
        body = reader.read(int(found["content-length"]))
    return _Request(method=method, path=path, headers=headers, body=body)


class Connection:
    """One client connection: requests in order, each passed on or faulted."""

    def __init__(self, proxy: Proxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: http.client.HTTPConnection | None = None

    def serve(self) -> None:
        try:
            first = self.client.recv(1, socket.MSG_PEEK)
            if first == b"\x16":  # a TLS hello: not for a plain-HTTP registry
                self._send(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                return
            with self.client.makefile("rb") as reader:
                while not self.proxy.stopping.is_set():
                    request = _read_request(reader)
                    if request is None or not self._answer(request):
                        return
        except (_ClientGone, OSError, ValueError, http.client.HTTPException):
            return
        finally:
            if self.upstream is not None:
                self.upstream.close()
            with contextlib.suppress(OSError):
                self.client.close()

    def _answer(self, request: _Request) -> bool:
        """Answer one request; False when the connection must end."""
        rule = self.proxy.rule_for(request.method, request.path)
        fault = rule.fault if rule is not None else None
        found = {name.lower(): value for name, value in request.headers}
        record = Record(
            request.method, request.path, found.get("range", ""), fault.kind if fault else ""
        )
        self.proxy.record(record)
        try:
            if fault is not None and fault.kind == "error":
                self._error(record, fault)
                return True
            if fault is not None and fault.kind == "stall" and fault.after is None:
                self._wait_for_close(record)
                return False
            return self._pass_on(request, record, fault)
        except (_ClientGone, OSError, http.client.HTTPException):
            record.client_gone = not record.complete
            return False
        finally:
            record.ended = True

    def _error(self, record: Record, fault: Fault) -> None:
        code = "TOOMANYREQUESTS" if fault.status == 429 else "UNAVAILABLE"
        body = (
            b'{"errors":[{"code":"' + code.encode() + b'","message":"injected by the test proxy"}]}'
        )
        head = [
            f"HTTP/1.1 {fault.status} {_REASONS.get(fault.status, 'Error')}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        if fault.retry_after:
            head.append(f"Retry-After: {fault.retry_after}")
        record.status = fault.status
        self._send(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        record.sent = len(body)
        record.complete = True

    def _upstream(self) -> http.client.HTTPConnection:
        if self.upstream is None:
            self.upstream = http.client.HTTPConnection(
                self.proxy.upstream, timeout=_UPSTREAM_TIMEOUT
            )
        return self.upstream

    def _pass_on(self, request: _Request, record: Record, fault: Fault | None) -> bool:
        dropped = _HOP_BY_HOP if self.proxy.ranges else _HOP_BY_HOP | {"range"}
        headers = {n: v for n, v in request.headers if n.lower() not in dropped}
        upstream = self._upstream()
        try:
            upstream.request(request.method, request.path, request.body or None, headers)
            response = upstream.getresponse()
        except (OSError, http.client.HTTPException):
            upstream.close()  # a stale kept-alive connection: once more, afresh
            upstream.request(request.method, request.path, request.body or None, headers)
            response = upstream.getresponse()
        length = response.getheader("Content-Length")
        bodiless = request.method == "HEAD" or response.status in (204, 304)
        body: bytes | None = None
        if length is None and not bodiless:
            body = response.read()  # chunked or to the close: small answers, sent by length
            length = str(len(body))
        head = [f"HTTP/1.1 {response.status} {response.reason}"]
        head += [
            f"{name}: {value}"
            for name, value in response.getheaders()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length"
        ]
        if length is not None:
            head.append(f"Content-Length: {length}")
        record.status = response.status
        self._send(("\r\n".join(head) + "\r\n\r\n").encode())
        if bodiless:
            record.complete = True
            return True
        chunks = iter([body]) if body is not None else self._chunks(response)
        keep = self._body(chunks, record, fault)
        if not keep:
            upstream.close()
            self.upstream = None
        return keep

    @staticmethod
    def _chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
        while chunk := response.read(_CHUNK):
            yield chunk

    def _body(self, chunks: Iterator[bytes], record: Record, fault: Fault | None) -> bool:
        """Send the body as ``fault`` says; False when the connection must end."""
        limit = fault.after if fault is not None and fault.kind in ("drop", "stall") else None
        rate = fault.rate if fault is not None and fault.kind == "trickle" else 0
        for chunk in chunks:
            if limit is not None and record.sent + len(chunk) >= limit:
                self._send(chunk[: limit - record.sent], record)
                break
            if rate:
                self._trickle(chunk, rate, record)
            else:
                self._send(chunk, record)
        else:
            record.complete = True
            return True
        assert fault is not None
        if fault.kind == "stall":
            self._wait_for_close(record)
        elif fault.reset:
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False

    def _trickle(self, chunk: bytes, rate: int, record: Record) -> None:
        piece = max(1, int(rate * POLL))
        for start in range(0, len(chunk), piece):
            if self.proxy.stopping.wait(POLL):
                raise _ClientGone
            self._send(chunk[start : start + piece], record)

    def _send(self, data: bytes, record: Record | None = None) -> None:
        if self.proxy.stopping.is_set():
            raise _ClientGone
        try:
            self.client.sendall(data)
        except OSError as exc:
            raise _ClientGone from exc
        if record is not None:
            record.sent += len(data)

    def _wait_for_close(self, record: Record) -> None:
        """Hold the connection, sending nothing, until the client closes it or the proxy stops."""
        while not self.proxy.stopping.wait(POLL):
            try:
                readable = self.client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                readable = b""
            if not readable:
                record.client_gone = True
                return
