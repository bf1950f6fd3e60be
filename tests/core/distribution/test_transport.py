"""The registry client's HTTP transport: pooled connections and the environment's proxies.

A small HTTP server (and a small forward proxy) on 127.0.0.1 stand in for a
registry's front: what is under test is how pouch connects, not the protocol.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pouch.distribution._http import Transport, TransportError


class _Server:
    def __init__(self, answer: bytes) -> None:
        seen: list[tuple[tuple[str, int], str]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as registries answer

            def do_GET(self) -> None:
                seen.append((self.client_address, self.path))
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.seen = seen
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server(b"direct")
    yield running
    running.close()


@pytest.fixture
def proxy() -> Iterator[_Server]:
    running = _Server(b"via-proxy")
    yield running
    running.close()


def test_requests_to_one_registry_share_one_connection(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    transport = Transport(lambda host: False)
    try:
        for n in range(5):
            with transport.request("GET", f"http://127.0.0.1:{server.port}/v2/blobs/{n}") as r:
                assert (r.status, r.read()) == (200, b"direct")
    finally:
        transport.close()
    assert len(server.seen) == 5
    assert len({client for client, _ in server.seen}) == 1  # one connection, reused


def test_http_proxy_is_honoured_and_no_proxy_bypasses_it(
    server: _Server, proxy: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{server.port}/v2/"
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    through = Transport(lambda host: False)
    try:
        with through.request("GET", url) as response:
            assert response.read() == b"via-proxy"
    finally:
        through.close()
    assert [path for _, path in proxy.seen] == [url]  # a proxy sees the absolute URL
    assert server.seen == []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = Transport(lambda host: False)
    try:
        with direct.request("GET", url) as response:
            assert response.read() == b"direct"
    finally:
        direct.close()
    assert len(proxy.seen) == 1 and len(server.seen) == 1


def test_a_refused_connection_says_so() -> None:
    transport = Transport(lambda host: False)
    with pytest.raises(TransportError) as caught:
        transport.request("GET", "http://127.0.0.1:1/v2/")
    assert isinstance(caught.value.reason, ConnectionRefusedError)
    assert not caught.value.tls
