"""Plain HTTP(S) requests for the registry client, on ``httpx``.

Owns the connection pools (one for verified TLS and plain HTTP, one for the
hosts configured insecure, each made on first use and reused by every
request of every pull), the environment's proxies (``HTTP_PROXY``,
``HTTPS_PROXY``, ``NO_PROXY``, as httpx reads them), HTTP/2 where the
optional ``h2`` package is installed, following redirects for GET and HEAD
(blob downloads are redirected to storage; ``Authorization`` is dropped when
the host changes) and streaming response bodies as they arrive, undecoded, so
that digests are computed over the bytes the registry sent. A failure is a
``TransportError`` that says what kind it was (dropped, timed out, refused,
TLS). It must not interpret registry answers, authenticate or retry: that
is ``_client``'s job, and trying again the pull's (``_retry``).

Blocking, on purpose: the pull and push code runs in worker threads (the
engine calls it through ``anyio.to_thread``) and hashes blobs to disk as they
stream; httpx's synchronous client is thread-safe and pools connections, so
the calling convention stays as it was and the event loop never waits on it.
httpx is imported on the first request: an idle pouchd that has not talked
to a registry does not carry it (some 15 MiB).
"""

from __future__ import annotations

import importlib.util
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

TYPE_CHECKING = False
if TYPE_CHECKING:
    import httpx

__all__ = ["Response", "Transport", "TransportError"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CHUNK = 1 << 20


class TransportError(OSError):
    """Connecting, sending or receiving failed (refused, reset, TLS, timeout, cut short).

    ``kind`` sorts the failure for whoever decides on another attempt:
    "dropped" (reset, closed before the end of the answer), "timeout" (nothing
    arrived for the transport's timeout), "refused", "tls", "unresolved" or
    "other"; the first two are ``transient``.
    """

    def __init__(
        self, host: str, reason: BaseException | str, *, tls: bool = False, kind: str = ""
    ) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason
        self.tls = tls
        self.kind = "tls" if tls else kind or _kind(reason)

    @property
    def transient(self) -> bool:
        return self.kind in ("dropped", "timeout")


def _kind(reason: BaseException | str) -> str:
    if isinstance(reason, ssl.SSLError):
        return "tls"
    if isinstance(reason, ConnectionRefusedError):
        return "refused"
    if isinstance(reason, socket.gaierror):
        return "unresolved"
    if isinstance(reason, TimeoutError):
        return "timeout"
    if isinstance(reason, ConnectionError):  # reset, aborted, broken pipe
        return "dropped"
    return "other"


def _failure(host: str, exc: BaseException) -> TransportError:
    """The cause under httpx's exception: a TLS error, the socket's OSError, a timeout,
    or the peer closing the connection before the answer was complete."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return TransportError(host, seen, tls=True)
        if isinstance(seen, OSError):
            return TransportError(host, seen)
        seen = seen.__cause__ or seen.__context__
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return TransportError(host, TimeoutError(str(exc) or "timed out"))
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return TransportError(host, exc, kind="dropped")  # "peer closed connection …"
    return TransportError(host, exc)


class _Headers:
    """Response headers with the lookups the client uses (case-insensitive)."""

    def __init__(self, headers: httpx.Headers) -> None:
        self._headers = headers

    def get(self, name: str, default: str | None = None) -> str | None:
        value: str | None = self._headers.get(name, default)
        return value

    def get_all(self, name: str, default: list[str] | None = None) -> list[str]:
        found = self._headers.get_list(name)
        return found if found else list(default or [])


class Response:
    """A response whose body is read (or streamed) once; close it, or use ``with``."""

    def __init__(self, raw: httpx.Response, url: str) -> None:
        self._raw = raw
        self.status = raw.status_code
        self.reason = raw.reason_phrase
        self.headers = _Headers(raw.headers)
        self.url = url

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def header(self, name: str) -> str:
        return self.headers.get(name, "") or ""

    def read(self, limit: int = 16 << 20) -> bytes:
        """The whole body (refused past ``limit`` bytes: manifests and errors are small)."""
        data = bytearray()
        for chunk in self.chunks():
            data += chunk
            if len(data) > limit:
                self.close()
                raise TransportError(self.host, f"response body larger than {limit} bytes")
        return bytes(data)

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        """The body in pieces as they arrive (or of ``size``); a connection cut
        short raises ``TransportError`` after the bytes that did arrive."""
        import httpx

        length = self.header("Content-Length")
        expected = int(length) if length.isdigit() else None
        received = 0
        try:
            for chunk in self._raw.iter_raw(size):
                received += len(chunk)
                yield chunk
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            raise _failure(self.host, exc) from exc
        bodiless = self._raw.request.method == "HEAD" or self.status in (204, 304)
        if expected is not None and received < expected and not bodiless:
            raise TransportError(
                self.host,
                f"connection closed after {received} of {expected} bytes",
                kind="dropped",
            )

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _stream(body: BinaryIO) -> Iterator[bytes]:
    while chunk := body.read(_CHUNK):
        yield chunk


class Transport:
    """Opens requests; ``insecure(host)`` says where TLS is not verified.

    ``timeout`` bounds every wait of a request (connecting, the answer's
    headers, each read of its body): a registry that sends nothing for that
    long fails the request with a "timeout" ``TransportError``.
    """

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
        self._clients: dict[bool, httpx.Client] = {}
        self._lock = threading.Lock()

    def _client(self, host: str) -> httpx.Client:
        import httpx

        verify = not self._insecure(host)
        with self._lock:
            client = self._clients.get(verify)
            if client is None:
                client = httpx.Client(
                    verify=verify,
                    timeout=httpx.Timeout(self.timeout),
                    follow_redirects=False,
                    trust_env=True,  # HTTP(S)_PROXY, NO_PROXY, SSL_CERT_FILE
                    http2=importlib.util.find_spec("h2") is not None,
                    headers={"User-Agent": self.user_agent},
                )
                self._clients[verify] = client
        return client

    def close(self) -> None:
        """Close the pooled connections; the transport opens new ones if used again."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | BinaryIO | None,
    ) -> Response:
        import httpx

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise TransportError(parts.netloc, f"unsupported URL scheme {parts.scheme!r}")
        client = self._client(parts.netloc)
        sent = dict(headers)
        if body is None and method in ("POST", "PUT", "PATCH"):
            sent.setdefault("Content-Length", "0")
        content = body if isinstance(body, bytes | None) else _stream(body)
        try:
            request = client.build_request(method, url, headers=sent, content=content)
            raw = client.send(request, stream=True)
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            raise _failure(parts.netloc, exc) from exc
        return Response(raw, url)

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
