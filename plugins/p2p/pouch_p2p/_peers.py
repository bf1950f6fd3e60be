"""Asking peers for blobs: ``PeerSource`` (one peer) and ``find_peers`` (who they are).

A ``PeerSource`` is a ``pouch.distribution.Source``: it asks one peer's
service for a blob from a byte offset, with the shared token, and turns what
can go wrong into what the core's source chain understands — ``NoSuchObject``
when the peer lacks the blob, ``RegistryUnavailable`` when it cannot be
reached, refuses us or stops sending. ``find_peers`` lists the static peers
and the addresses a DNS name resolves to, less this node's own address. The
core verifies every byte's digest: this module must not store anything.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

from pouch.distribution import RegistryUnavailable
from pouch.errors import NoSuchObject
from pouch_p2p._settings import P2PSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    import httpx

__all__ = ["PeerSource", "find_peers", "peer_source"]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class PeerSource:
    """One peer's blob service, at ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        timeout: float = 10.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls``: HTTPS with this client context (mutual TLS), else plain HTTP."""
        self.host = host
        self.port = port
        self._token = token
        self._timeout = timeout
        self._tls = tls

    def _client(self) -> httpx.Client:
        import httpx  # on first use: an idle node does not carry it

        return httpx.Client(timeout=self._timeout, trust_env=False, verify=self._tls or True)

    @property
    def name(self) -> str:
        return f"peer {_url_host(self.host)}:{self.port}"

    def open(self, repo: str, digest: str, offset: int) -> Iterator[bytes]:
        import httpx  # on first use: an idle node does not carry it

        headers = {"Authorization": f"Bearer {self._token}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        url = self._url(repo, digest)
        client = self._client()
        try:
            response = client.send(client.build_request("GET", url, headers=headers), stream=True)
        except httpx.HTTPError as exc:
            client.close()
            raise RegistryUnavailable(f"{self.name}: {exc}", host=self.host) from None
        if response.status_code == 404:
            response.close()
            client.close()
            raise NoSuchObject(f"{self.name} does not have {digest}")
        if response.status_code not in (200, 206):
            response.close()
            client.close()
            raise RegistryUnavailable(
                f"{self.name} answered {response.status_code} for {digest}"
                + (
                    " (is the token the same on both nodes?)" if response.status_code == 401 else ""
                ),
                host=self.host,
            )
        return self._chunks(client, response, digest, offset)

    def _url(self, repo: str, digest: str) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{_url_host(self.host)}:{self.port}/v2/{repo}/blobs/{digest}"

    def size(self, repo: str, digest: str) -> int | None:
        """The blob's size when this peer has it (``HEAD``), else None."""
        import httpx  # on first use: an idle node does not carry it

        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            with self._client() as client:
                response = client.head(self._url(repo, digest), headers=headers)
        except httpx.HTTPError:
            return None
        length = response.headers.get("Content-Length", "")
        return int(length) if response.status_code == 200 and length.isdigit() else None

    def piece(self, repo: str, digest: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of the blob; ``RegistryUnavailable`` if not."""
        import httpx  # on first use: an idle node does not carry it

        headers = {"Authorization": f"Bearer {self._token}", "Range": f"bytes={start}-{end}"}
        try:
            with self._client() as client:
                response = client.get(self._url(repo, digest), headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"{self.name}: {exc}", host=self.host) from None
        if response.status_code != 206 or len(response.content) != end - start + 1:
            raise RegistryUnavailable(
                f"{self.name} answered {response.status_code} for bytes {start}-{end} of {digest}",
                host=self.host,
            )
        return response.content

    def _chunks(
        self, client: httpx.Client, response: httpx.Response, digest: str, offset: int
    ) -> Iterator[bytes]:
        import httpx  # on first use: an idle node does not carry it

        skip = offset if response.status_code == 200 else 0
        expected = response.headers.get("Content-Length", "")
        received = 0
        try:
            for chunk in response.iter_raw():
                received += len(chunk)
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                if chunk:
                    yield chunk
            if expected.isdigit() and received < int(expected):
                raise RegistryUnavailable(
                    f"{self.name} stopped after {received} of {expected} bytes of {digest}",
                    host=self.host,
                )
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(
                f"{self.name} stopped sending {digest}: {exc}", host=self.host
            ) from None
        finally:
            response.close()
            client.close()


def _resolve(name: str, port: int) -> list[str]:
    try:
        found = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    addresses: list[str] = []
    for *_, sockaddr in found:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def peer_source(settings: P2PSettings, host: str, port: int) -> PeerSource:
    """A peer at ``host:port``, asked as ``settings`` say (token, timeout, TLS)."""
    return PeerSource(host, port, settings.token, settings.timeout, settings.ssl_context(False))


def find_peers(settings: P2PSettings) -> list[PeerSource]:
    """The static peers, then those a DNS name resolves to; never this node itself."""
    seen: set[tuple[str, int]] = set()
    if settings.listen is not None:
        seen.add(settings.listen)
    found: list[PeerSource] = []
    candidates = list(settings.peers)
    if settings.dns is not None:
        name, port = settings.dns
        candidates += [(address, port) for address in _resolve(name, port)]
    for host, port in candidates:
        if (host, port) in seen:
            continue
        seen.add((host, port))
        found.append(peer_source(settings, host, port))
    return found
