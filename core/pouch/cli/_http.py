"""HTTP to pouchd with the standard library: unix or TCP (+TLS), version negotiation.

One connection per request keeps streaming simple (logs, events and wait can
stay open while other requests go out); the HTTP is ``pouch.cli._wire``'s, and
``ssl`` is imported only for ``--tls``.
``hijack`` takes the connection over for attach and exec (``pouch.cli._hijack``).
"""

from __future__ import annotations

import _socket
import os

from pouch.cli._endpoint import DEFAULT_HOST, Endpoint, TLSOptions
from pouch.cli._errors import APIError, CannotConnect, CLIError, ConnectionLost
from pouch.cli._jsonc import dumps
from pouch.cli._response import Pending, Response, error_message
from pouch.cli._wire import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, TypeVar

    T = TypeVar("T")

    from pouch.cli._hijack import Hijacked

    Query = Mapping[str, "str | int | float | bool | Sequence[str] | None"]

__all__ = [
    "API_VERSION",
    "DEFAULT_HOST",
    "Client",
    "Endpoint",
    "Pending",
    "Response",
    "TLSOptions",
]

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
USER_AGENT = "pouch-cli/0.1.0"

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str, safe: str = "") -> str:
    """Percent-encode ``text`` as UTF-8, leaving letters, digits, ``_.-~`` and ``safe``."""
    keep = _UNRESERVED | frozenset(safe.encode())
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


def urlencode(pairs: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)


def _encode_query(query: Query | None) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        elif isinstance(value, str | int | float):
            pairs.append((key, str(value)))
        else:
            pairs.extend((key, item) for item in value)
    return ("?" + urlencode(pairs)) if pairs else ""


class Client:
    """Talks to one pouchd; negotiates the API version on first use."""

    def __init__(
        self, endpoint: Endpoint, tls: TLSOptions | None = None, version: str | None = None
    ) -> None:
        self.endpoint = endpoint
        self.tls = tls
        self._version = version or os.environ.get("POUCH_API_VERSION") or None

    # -- connections ----------------------------------------------------------------

    def _connect(self) -> Connection:
        address = self.endpoint.address
        if self.endpoint.scheme == "unix":
            # The C module: the socket module's start-up (its enums) is not needed here.
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.connect(address)
            except OSError:
                sock.close()
                raise
            return Connection(sock)
        import socket

        sock = socket.create_connection((address, self.endpoint.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host = f"[{address}]" if ":" in address else address
        if self.tls is not None:
            from pouch.cli._tls import context

            try:
                sock = context(self.tls).wrap_socket(sock, server_hostname=address)
            except OSError:
                sock.close()
                raise
        return Connection(sock, f"{host}:{self.endpoint.port}")

    def _connected(self) -> Connection:
        try:
            conn = self._connect()
        except PermissionError as exc:
            raise CannotConnect(
                f"Permission denied connecting to pouchd at {self.endpoint.url}: "
                "run as root or as a member of the pouch group"
            ) from exc
        except OSError as exc:
            if type(exc).__module__ == "ssl" or exc.__class__.__name__.startswith("SSL"):
                raise CannotConnect(
                    f"TLS with pouchd at {self.endpoint.url} failed: {exc}"
                ) from exc
            raise CannotConnect(
                f"Cannot connect to pouchd at {self.endpoint.url}: is pouchd running? "
                "(start it with `pouchd`)"
            ) from exc
        return conn

    # -- version --------------------------------------------------------------------

    @property
    def version(self) -> str:
        """The API version requests use: the one negotiated, else this client's own.

        Requests go out at this client's version without a ``/_ping`` first (a
        round trip every command would pay); a daemon older than that answers
        "client version … is too new", and ``request`` then negotiates and
        sends the request again.
        """
        return self._version or API_VERSION

    def _negotiating(self, send: Callable[[], T]) -> T:
        """``send()``; when a daemon older than this client refuses its API version,
        the version is negotiated and ``send()`` runs once more."""
        try:
            return send()
        except APIError as exc:
            too_new = exc.http_status == 400 and "is too new" in exc.message
            if self._version is not None or not too_new:
                raise
        self._version = self._negotiate()
        return send()

    def _negotiate(self) -> str:
        response = self.request("GET", "/_ping", versioned=False)
        server = response.header("API-Version")
        response.read()
        if not server:
            return MIN_API_VERSION

        def key(v: str) -> tuple[int, ...]:
            return tuple(int(p) for p in v.split(".") if p.isdigit())

        if key(server) < key(MIN_API_VERSION):
            raise CLIError(
                f"pouchd speaks API {server}; this client needs {MIN_API_VERSION} or later"
            )
        return min(server, API_VERSION, key=key)

    def url(self, path: str, query: Query | None = None, *, versioned: bool = True) -> str:
        prefix = f"/v{self.version}" if versioned else ""
        return prefix + quote(path, safe="/:@=+,") + _encode_query(query)

    # -- requests -------------------------------------------------------------------

    def begin(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        json_body: object = None,
        body: bytes | Any = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
    ) -> Pending:
        """Send a request now and read its answer later (``run`` waits before it starts)."""
        url = self.url(path, query, versioned=versioned)
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if json_body is not None:
            body = dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        conn = self._connected()
        try:
            conn.request(method, url, body=body, headers=sent)
        except OSError as exc:
            conn.close()
            raise ConnectionLost(f"pouchd closed the connection: {exc}") from exc
        return Pending(conn)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        json_body: object = None,
        body: bytes | Any = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
    ) -> Response:
        """Send one request; an answer of 400 or more raises ``APIError``."""

        def send() -> Pending:
            return self.begin(
                method,
                path,
                query=query,
                json_body=json_body,
                body=body,
                headers=headers,
                versioned=versioned,
            )

        resendable = versioned and (body is None or isinstance(body, bytes))
        try:
            if not resendable:
                return send().finish()
            return self._negotiating(lambda: send().finish())
        except ConnectionLost as exc:
            hinted = "--tlscert" in exc.message  # already, by the version negotiation
            if self.endpoint.scheme == "tcp" and not hinted and not (self.tls and self.tls.cert):
                # pouchd listens on TCP only with TLS and client certificates, and a
                # TLS server hangs up on a client that has none: say what is missing.
                raise ConnectionLost(
                    f"{exc.message} (pouchd on TCP needs TLS and a client certificate: "
                    "--tlsverify --tlscacert CA --tlscert CERT --tlskey KEY)"
                ) from exc
            raise

    def get(self, path: str, query: Query | None = None) -> Any:
        return self.request("GET", path, query=query).json()

    def post(self, path: str, query: Query | None = None, json_body: object = None) -> Any:
        return self.request("POST", path, query=query, json_body=json_body).json()

    def delete(self, path: str, query: Query | None = None) -> Any:
        return self.request("DELETE", path, query=query).json()

    def hijack(self, path: str, query: Query | None = None, json_body: object = None) -> Hijacked:
        """POST with ``Upgrade: tcp`` and take the socket over (attach, exec start)."""
        return self._negotiating(lambda: self._hijack(path, query, json_body))

    def _hijack(self, path: str, query: Query | None, json_body: object) -> Hijacked:
        from pouch.cli._hijack import Hijacked

        body = dumps(json_body).encode() if json_body is not None else b""
        headers = {
            "User-Agent": USER_AGENT,
            "Connection": "Upgrade",
            "Upgrade": "tcp",
            "Content-Type": "application/json",
        }
        conn = self._connected()
        try:
            conn.request("POST", self.url(path, query), body=body, headers=headers)
            answer = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise ConnectionLost(f"pouchd closed the connection: {exc}") from exc
        if answer.status >= 400:
            conn.sock.settimeout(5)  # the message is worth a wait, not a hang
            try:
                data = answer.read()
            except OSError:
                data = b""
            conn.close()
            raise APIError(answer.status, error_message(answer.status, data))
        return Hijacked(conn.sock, answer.leftover(), answer.getheader("content-type"))
