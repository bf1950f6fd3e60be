"""The peer service: this node's verified blobs, read-only, to peers that know the token.

Owns ``PeerServer``: an HTTP/1.1 server on the one configured address that
speaks the part of the OCI distribution API a puller needs — ``GET /v2/``,
``HEAD``/``GET /v2/<name>/blobs/<digest>`` (with ``Range``) and
``/v2/<name>/manifests/<digest>`` — from the engine's content store. The
store holds only blobs whose digest was verified when they were written
(downloads in progress are temporary files it never lists), and each blob
is hashed again before it is sent, so bytes that rotted on disk are refused
rather than passed on. Tags are never answered: a peer is asked for
content by digest, and what a tag means comes from the registry alone. Every
request needs ``Authorization: Bearer <token>``; ``rate`` bounds the bytes per
second sent to all peers together. ``stop`` also cuts the transfers in
flight, as a dying node would. Threads: one per connection.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

from pouch.errors import InvalidArgument
from pouch.images import ContentStore, check_digest
from pouch_p2p._settings import split_address
from pouch_p2p._tracker import Holders
from pouch_p2p._upstream import Upstream

__all__ = ["PeerServer"]

log = logging.getLogger(__name__)

_PATH = re.compile(
    r"^/v2/(?P<name>[a-z0-9][a-z0-9._/-]*)/(?P<kind>blobs|manifests)/(?P<ref>[^/]+)$"
)
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_CHUNK = 256 << 10


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed handshake or a peer gone away: a log line, not a traceback."""
        error = sys.exc_info()[1]
        log.info("p2p: connection from %s failed: %s", client_address[0], error)


class _Bucket:
    """A token bucket of bytes per second shared by every transfer (0: unlimited)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._level = float(rate)
        self._at = time.monotonic()

    def take(self, size: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            self._level = min(float(self.rate), self._level + (now - self._at) * self.rate)
            self._at = now
            self._level -= size
            wait = -self._level / self.rate if self._level < 0 else 0.0
        if wait:
            time.sleep(wait)


class PeerServer:
    """Serves ``content`` on ``address`` to requests carrying ``token``."""

    def __init__(
        self,
        content: Callable[[], ContentStore | None],
        address: tuple[str, int],
        token: str,
        *,
        rate: int = 0,
        upstream: Upstream | None = None,
        wait: float = 8.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``content()``: the engine's content store, None while the engine starts;
        a blob ``upstream`` says this node is fetching is waited for ``wait`` seconds;
        ``tls``: HTTPS with this server context (mutual TLS)."""
        self._content = content
        self.holders = Holders()
        """Which nodes announced which blobs (this node as a tracker)."""
        self._upstream = upstream
        self._wait = wait
        self._token = token.encode()
        self._bucket = _Bucket(rate)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server = _Server(address, self._handler())
        self._server.daemon_threads = True
        self._tls = tls
        if tls is not None:  # each handshake in its connection's thread, not in accept()
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread: threading.Thread | None = None
        self.served: list[str] = []
        """Digests sent whole or in part, in order (for the log and for tests)."""

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.2,), name="pouch-p2p", daemon=True
        )
        self._thread.start()
        log.info("p2p: serving blobs to peers on %s:%d", *self.address)

    def stop(self) -> None:
        """Stop listening and cut the transfers in flight (their peers resume elsewhere)."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- requests ---------------------------------------------------------------

    def authorized(self, header: str) -> bool:
        scheme, _, secret = header.partition(" ")
        return scheme == "Bearer" and hmac.compare_digest(secret.strip().encode(), self._token)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "pouch-p2p"

            def setup(self) -> None:
                if server._tls is not None:
                    self.request.settimeout(30)
                    self.request.do_handshake()  # a stranger's certificate fails here
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                with contextlib.suppress(OSError, AttributeError):  # no handshake, no files
                    super().finish()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("p2p: %s %s", self.address_string(), format % args)

            def do_HEAD(self) -> None:
                server._answer(self)

            def do_GET(self) -> None:
                server._answer(self)

            def _refuse(self) -> None:
                self.send_error_json(405, "UNSUPPORTED", "peers are read-only")

            def do_POST(self) -> None:
                server._answer(self)

            do_PUT = do_PATCH = do_DELETE = _refuse

            def send_error_json(self, status: int, code: str, message: str, **headers: str) -> None:
                body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        return Handler

    def _answer(self, request: Any) -> None:
        if not self.authorized(request.headers.get("Authorization", "")):
            _drain(request)
            request.send_error_json(
                401,
                "UNAUTHORIZED",
                "this node serves its peers only: send the shared token",
                **{"WWW-Authenticate": 'Bearer realm="pouch-p2p"'},
            )
            return
        path = request.path.split("?", 1)[0]
        if path.startswith("/p2p/"):
            self._tracker(request, path)
            return
        if request.command == "POST":
            _drain(request)
            request.send_error_json(405, "UNSUPPORTED", "peers are read-only")
            return
        if path in ("/v2/", "/v2"):
            self._send(request, 200, b"{}", **{"Content-Type": "application/json"})
            return
        match = _PATH.match(path)
        if match is None:
            request.send_error_json(404, "NAME_UNKNOWN", f"nothing at {path}")
            return
        ref = match["ref"]
        try:
            check_digest(ref)
        except InvalidArgument:
            code = "MANIFEST_UNKNOWN" if match["kind"] == "manifests" else "DIGEST_INVALID"
            request.send_error_json(
                404, code, "peers serve content by digest only, never a tag: ask the registry"
            )
            return
        content = self._content()
        if content is not None and not content.exists(ref) and self._upstream is not None:
            # This node is fetching it from the registry: wait rather than send the
            # asking peer there too (bounded, below the peers' own timeout).
            self._upstream.wait(ref, functools.partial(content.exists, ref), self._wait)
        if content is None or not content.exists(ref):
            unknown = "MANIFEST_UNKNOWN" if match["kind"] == "manifests" else "BLOB_UNKNOWN"
            request.send_error_json(404, unknown, f"{ref} is not on this node")
            return
        self._send_blob(request, content, ref, manifest=match["kind"] == "manifests")

    def _tracker(self, request: Any, path: str) -> None:
        """``POST /p2p/announce`` and ``GET /p2p/holders/<digest>``: this node as a tracker."""
        if request.command == "POST" and path == "/p2p/announce":
            length = int(request.headers.get("Content-Length", "0") or 0)
            try:
                if length > 16 << 20:
                    raise ValueError("an announcement of more than 16 MiB")
                body = json.loads(request.rfile.read(length))
                address = str(body["address"])
                split_address(address, "address")
                digests = [check_digest(str(d)) and str(d) for d in body["digests"]]
                ttl = min(float(body.get("ttl", 30.0)), 3600.0)
            except (ValueError, KeyError, TypeError, InvalidArgument) as exc:
                request.send_error_json(400, "INVALID", f"announcement: {exc}")
                return
            self.holders.announce(address, digests, ttl)
            self._send(request, 204, b"")
            return
        prefix = "/p2p/holders/"
        if request.command in ("GET", "HEAD") and path.startswith(prefix):
            body = json.dumps({"holders": self.holders.holders(path[len(prefix) :])}).encode()
            self._send(request, 200, body, **{"Content-Type": "application/json"})
            return
        request.send_error_json(404, "NAME_UNKNOWN", f"nothing at {path}")

    def _send(self, request: Any, status: int, body: bytes, **headers: str) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def _send_blob(self, request: Any, content: ContentStore, digest: str, manifest: bool) -> None:
        try:
            blob = content.open(digest)
        except Exception:  # removed between exists() and open()
            request.send_error_json(404, "BLOB_UNKNOWN", f"{digest} is not on this node")
            return
        with blob:
            if not _intact(blob, digest):
                log.error("p2p: %s in the content store does not match its digest", digest)
                request.send_error_json(404, "BLOB_UNKNOWN", f"{digest} is not on this node")
                return
            size = blob.seek(0, 2)
            start, end = 0, size - 1
            wanted = _RANGE.match(request.headers.get("Range", ""))
            if wanted:
                start = int(wanted[1])
                end = min(int(wanted[2]), size - 1) if wanted[2] else size - 1
                if start >= size or start > end:
                    request.send_error_json(
                        416,
                        "RANGE_INVALID",
                        f"{digest} has {size} bytes",
                        **{"Content-Range": f"bytes */{size}"},
                    )
                    return
            request.send_response(206 if wanted else 200)
            media = "application/octet-stream"
            if manifest:
                blob.seek(0)
                media = _media_type(blob.read(4 << 20)) or media
            request.send_header("Content-Type", media)
            request.send_header("Docker-Content-Digest", digest)
            request.send_header("Content-Length", str(end - start + 1))
            if wanted:
                request.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            request.end_headers()
            if request.command == "HEAD":
                return
            self.served.append(digest)
            blob.seek(start)
            left = end - start + 1
            try:
                while left > 0:
                    chunk = blob.read(min(_CHUNK, left))
                    if not chunk:
                        break
                    self._bucket.take(len(chunk))
                    request.wfile.write(chunk)
                    left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                log.debug("p2p: peer %s went away during %s", request.address_string(), digest)


def _drain(request: Any, limit: int = 1 << 20) -> None:
    """Read a refused request's body, so the answer reaches the client (a small one
    whole; past ``limit`` the connection closes after the answer)."""
    length = request.headers.get("Content-Length", "0")
    size = int(length) if length.isdigit() else 0
    if 0 < size <= limit:
        request.rfile.read(size)
    elif size:
        request.close_connection = True


def _intact(blob: BinaryIO, digest: str) -> bool:
    """Whether the stored bytes still hash to their name (disks rot; peers must not pass it on)."""
    hasher = hashlib.sha256()
    blob.seek(0)
    while chunk := blob.read(1 << 20):
        hasher.update(chunk)
    return f"sha256:{hasher.hexdigest()}" == digest


def _media_type(raw: bytes) -> str:
    try:
        document = json.loads(raw)
    except ValueError:
        return ""
    return str(document.get("mediaType", "")) if isinstance(document, dict) else ""
