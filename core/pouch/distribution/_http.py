"""Plain HTTP(S) requests for the registry client, on ``http.client`` and ``ssl``.

Owns opening one connection per request (TLS verified unless the host is
insecure), following redirects for GET and HEAD (blob downloads are redirected
to storage; ``Authorization`` is dropped when the host changes) and streaming
response bodies. Environment proxies are not used. It must not interpret
registry answers, authenticate or retry: that is ``_client``'s job. Blocking.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

__all__ = ["Response", "Transport", "TransportError"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CHUNK = 1 << 20


class TransportError(OSError):
    """Connecting, sending or receiving failed (refused, reset, TLS, timeout, cut short)."""

    def __init__(self, host: str, reason: BaseException | str, *, tls: bool = False) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason
        self.tls = tls


class Response:
    """A response whose body is read (or streamed) once; close it, or use ``with``."""

    def __init__(self, raw: http.client.HTTPResponse, conn: http.client.HTTPConnection, url: str):
        self._raw = raw
        self._conn = conn
        self.status = raw.status
        self.reason = raw.reason
        self.headers = raw.headers
        self.url = url

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def header(self, name: str) -> str:
        return self.headers.get(name, "") or ""

    def read(self, limit: int = 16 << 20) -> bytes:
        """The whole body (refused past ``limit`` bytes: manifests and errors are small)."""
        try:
            data = self._raw.read(limit + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(self.host, exc) from exc
        if len(data) > limit:
            raise TransportError(self.host, f"response body larger than {limit} bytes")
        return data

    def chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        """The body in pieces; a connection cut short raises ``TransportError``."""
        length = self.header("Content-Length")
        expected = int(length) if length.isdigit() else None
        received = 0
        try:
            while chunk := self._raw.read(size):
                received += len(chunk)
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(self.host, exc) from exc
        # read(n) returns b"" at a premature end instead of raising IncompleteRead.
        if expected is not None and received < expected:
            raise TransportError(
                self.host, f"connection closed after {received} of {expected} bytes"
            )

    def close(self) -> None:
        self._raw.close()
        self._conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Transport:
    """Opens requests; ``insecure(host)`` says where TLS is not verified."""

    def __init__(
        self,
        insecure: Callable[[str], bool],
        *,
        timeout: float = 60.0,
        user_agent: str = "pouch",
    ) -> None:
        self._insecure = insecure
        self.timeout = timeout
        self.user_agent = user_agent
        self._verified = ssl.create_default_context()
        self._unverified = ssl.create_default_context()
        self._unverified.check_hostname = False
        self._unverified.verify_mode = ssl.CERT_NONE

    def _connect(self, scheme: str, host: str) -> http.client.HTTPConnection:
        if scheme == "https":
            context = self._unverified if self._insecure(host) else self._verified
            return http.client.HTTPSConnection(host, timeout=self.timeout, context=context)
        if scheme == "http":
            return http.client.HTTPConnection(host, timeout=self.timeout)
        raise TransportError(host, f"unsupported URL scheme {scheme!r}")

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | BinaryIO | None,
    ) -> Response:
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn = self._connect(parts.scheme, parts.netloc)
        sent = {"User-Agent": self.user_agent, **headers}
        if body is None and method in ("POST", "PUT", "PATCH"):
            sent.setdefault("Content-Length", "0")
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
        except ssl.SSLError as exc:
            conn.close()
            raise TransportError(parts.netloc, exc, tls=True) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise TransportError(parts.netloc, exc) from exc
        return Response(raw, conn, url)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
        follow: bool = True,
    ) -> Response:
        """Send the request; with ``follow``, GET and HEAD redirects are followed."""
        sent = dict(headers or {})
        origin = urlsplit(url).netloc
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._send(method, url, sent, body)
            location = response.header("Location")
            if not (follow and method in ("GET", "HEAD") and response.status in _REDIRECTS):
                return response
            if not location:
                return response
            response.close()
            url = urljoin(url, location)
            if urlsplit(url).netloc != origin:
                # Storage behind a redirect has its own (pre-signed) authorisation.
                sent.pop("Authorization", None)
        raise TransportError(origin, f"more than {_MAX_REDIRECTS} redirects for {method} {url}")
