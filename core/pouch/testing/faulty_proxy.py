"""A fault-injecting HTTP proxy in front of a test registry, on 127.0.0.1.

``FaultyProxy(upstream)`` listens on a free loopback port and forwards each
HTTP/1.1 request to ``upstream`` (a ``Registry.address``), keeping client
connections alive as a registry does. ``Rule``s pick requests by method and
a piece of the path and do a ``Fault`` to the first ``times`` of them:

``drop_after(n)``
    the registry's answer, cut after ``n`` body bytes (the connection closed,
    or reset with ``reset=True``);
``error(status, retry_after=…)``
    an error answer (500, 503, 429 …) without asking the registry;
``stall()`` / ``stall(after=n)``
    nothing at all after the request, or the headers and ``n`` body bytes
    and then nothing, until the client goes away or the proxy stops;
``trickle(rate)``
    the answer at ``rate`` body bytes a second.

With ``ranges=False`` the ``Range`` header is not passed on, so the registry
answers a resumed download with the whole blob (200), as a registry without
range support does. Every request is recorded as an ``Exchange`` (method,
path, ``Range``, status, body bytes sent, whether the client went away
before the end), so a test can see a resumed download or count the bytes
served after a pull was cancelled. A TLS hello (a client probing for HTTPS) is answered with a 400,
as a plain-HTTP registry answers it.

This module must not start registries or listen beyond 127.0.0.1. Every
thread it starts ends when the proxy stops (``with FaultyProxy(...)``), also
when a test fails.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

from pouch.testing._faults import (
    Exchange,
    Fault,
    Record,
    Rule,
    drop_after,
    error,
    stall,
    trickle,
)
from pouch.testing._proxy_connection import POLL, Connection

__all__ = [
    "Exchange",
    "Fault",
    "FaultyProxy",
    "Rule",
    "drop_after",
    "error",
    "stall",
    "trickle",
]

_JOIN_TIMEOUT = 10.0


class FaultyProxy:
    """A proxy on 127.0.0.1 in front of ``upstream`` (``host:port``) that does what its rules say.

    Use it as a context manager; ``address`` is what a client pulls from.
    ``ranges``: pass ``Range`` headers on (False: the registry never sees them).
    """

    def __init__(
        self, upstream: str, rules: list[Rule] | None = None, *, ranges: bool = True
    ) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = list(rules or [])
        self.ranges = ranges
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._records: list[Record] = []
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.settimeout(POLL)
        self._acceptor = threading.Thread(target=self._accept, name="faulty-proxy", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def add(self, *rules: Rule) -> None:
        """Append rules; they are consulted in order, the first that matches applies."""
        with self._lock:
            self.rules.extend(rules)

    def clear(self) -> None:
        """Drop every rule: requests pass on untouched from now on."""
        with self._lock:
            self.rules.clear()

    def exchanges(self) -> list[Exchange]:
        """Every request seen so far, oldest first."""
        with self._lock:
            return [record.snapshot() for record in self._records]

    def blob_gets(self) -> list[Exchange]:
        """The blob downloads seen (``GET /v2/<name>/blobs/<digest>``)."""
        return [e for e in self.exchanges() if e.method == "GET" and "/blobs/sha256:" in e.path]

    def bytes_sent(self, path: str = "/blobs/") -> int:
        """Body bytes sent so far for requests whose path contains ``path``."""
        return sum(e.sent for e in self.exchanges() if path in e.path)

    def wait_until_ended(self, path: str = "/blobs/", timeout: float = 30.0) -> bool:
        """Wait (bounded) until no request whose path contains ``path`` is being answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(e.ended for e in self.exchanges() if path in e.path):
                return True
            time.sleep(POLL)
        return False

    def rule_for(self, method: str, path: str) -> Rule | None:
        """The first rule with uses left that picks this request (a use is taken)."""
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.used += 1
                    return rule
        return None

    def record(self, record: Record) -> None:
        """Keep a connection's record of an exchange."""
        with self._lock:
            self._records.append(record)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            thread = threading.Thread(
                target=self._serve, args=(client,), name="faulty-proxy-conn", daemon=True
            )
            with self._lock:
                self._clients.add(client)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            Connection(self, client).serve()
        finally:
            with self._lock:
                self._clients.discard(client)

    def __enter__(self) -> FaultyProxy:
        self._listener.listen(64)
        self._acceptor.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stopping.set()
        self._acceptor.join(_JOIN_TIMEOUT)
        self._listener.close()
        with self._lock:
            clients, threads = list(self._clients), list(self._threads)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(_JOIN_TIMEOUT)
