"""Which nodes hold which blobs: the tracker's table and the client that uses it.

A tracker is just a node whose peer service also keeps ``Holders``: every node
configured with ``tracker`` announces the digests of its content store there
(``POST /p2p/announce``, every ``announce`` seconds, each entry living three
periods), and a pull asks it who holds a blob (``GET /p2p/holders/<digest>``)
before asking those nodes. ``TrackerClient`` is that client side; a tracker
that cannot be reached gives no holders (said once), never a failed pull.
Thread-safe.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time

from pouch_p2p._settings import P2PSettings, split_address

__all__ = ["Holders", "TrackerClient", "tracker_client"]

log = logging.getLogger(__name__)


class Holders:
    """digest → {node address → until when the announcement holds}."""

    def __init__(self) -> None:
        self._table: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def announce(self, address: str, digests: list[str], ttl: float) -> None:
        until = time.monotonic() + ttl
        with self._lock:
            for nodes in self._table.values():
                nodes.pop(address, None)  # what it no longer lists, it no longer has
            for digest in digests:
                self._table.setdefault(digest, {})[address] = until

    def holders(self, digest: str) -> list[str]:
        now = time.monotonic()
        with self._lock:
            nodes = self._table.get(digest, {})
            return sorted(address for address, until in nodes.items() if until > now)


class TrackerClient:
    """Asks the tracker at ``address`` (``host:port``) with the shared ``token``."""

    def __init__(
        self,
        address: tuple[str, int],
        token: str,
        timeout: float = 10.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        host, port = address
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}/p2p"
        self._tls = tls
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._warned = False

    def _failed(self, what: str, exc: Exception | str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("p2p: tracker %s: %s failed: %s", self.base, what, exc)

    def holders(self, digest: str) -> list[tuple[str, int]]:
        import httpx  # on first use: an idle node does not carry it

        try:
            with httpx.Client(
                timeout=self._timeout, trust_env=False, verify=self._tls or True
            ) as client:
                answer = client.get(f"{self.base}/holders/{digest}", headers=self._headers)
        except httpx.HTTPError as exc:
            self._failed("asking for holders", exc)
            return []
        if answer.status_code != 200:
            self._failed("asking for holders", f"HTTP {answer.status_code}")
            return []
        try:
            listed = answer.json().get("holders", [])
            return [split_address(str(a), "holders") for a in listed]
        except Exception as exc:  # a broken answer is no holders, never a failed pull
            self._failed("reading its answer", exc)
            return []

    def announce(self, address: str, digests: list[str], ttl: float) -> bool:
        import httpx  # on first use: an idle node does not carry it

        body = {"address": address, "digests": digests, "ttl": ttl}
        try:
            with httpx.Client(
                timeout=self._timeout, trust_env=False, verify=self._tls or True
            ) as client:
                answer = client.post(f"{self.base}/announce", headers=self._headers, json=body)
        except httpx.HTTPError as exc:
            self._failed("announcing", exc)
            return False
        if answer.status_code != 204:
            self._failed("announcing", f"HTTP {answer.status_code}: {answer.text[:200]}")
            return False
        self._warned = False
        return True


def tracker_client(settings: P2PSettings) -> TrackerClient | None:
    """The client of the configured tracker (token, timeout, TLS), or None."""
    if settings.tracker is None:
        return None
    return TrackerClient(
        settings.tracker, settings.token, settings.timeout, settings.ssl_context(False)
    )
