"""The CLI's own HTTP/1.1: against a small daemon stand-in speaking the wire format.

The stand-in (``http.server`` on a unix socket) answers as an older or odd
daemon would, which pouchd itself never does: an API version below the
client's, chunked and close-delimited bodies.
"""

from __future__ import annotations

import io
import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from pouch.cli._endpoint import Endpoint
from pouch.cli._http import Client
from pouch.cli.main import main

Handler = Callable[[BaseHTTPRequestHandler], None]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[str, list[str], dict[str, Handler]]]:
    """A unix-socket HTTP server: its host URL, the request lines seen, and routes."""
    seen: list[str] = []
    routes: dict[str, Handler] = {}

    class Answer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def address_string(self) -> str:
            return "local"

        def log_message(self, *args: object) -> None:
            pass

        def handle_one_request(self) -> None:
            super().handle_one_request()
            self.close_connection = True

        def _route(self) -> None:
            seen.append(f"{self.command} {self.path}")
            for prefix, handler in routes.items():
                if self.path.startswith(prefix):
                    handler(self)
                    return
            self.send_error(404)

        do_GET = do_POST = _route

    path = str(tmp_path / "d.sock")
    server = _Server(path, Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}", seen, routes
    finally:
        server.shutdown()
        server.server_close()


def _json(handler: BaseHTTPRequestHandler, status: int, value: object) -> None:
    body = json.dumps(value).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_an_older_daemon_is_asked_its_version_and_the_request_sent_again(
    daemon: tuple[str, list[str], dict[str, Handler]], capsys: pytest.CaptureFixture[str]
) -> None:
    host, seen, routes = daemon

    def ping(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("API-Version", "1.40")
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"OK")

    too_new = {"message": "client version 1.41 is too new. Maximum supported API version is 1.40"}
    routes["/_ping"] = ping
    routes["/v1.41/"] = lambda h: _json(h, 400, too_new)
    routes["/v1.40/containers/json"] = lambda h: _json(h, 200, [])
    assert main(["-H", host, "ps", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert [line.split("?")[0] for line in seen] == [
        "GET /v1.41/containers/json",
        "GET /_ping",
        "GET /v1.40/containers/json",
    ]


def test_a_current_daemon_gets_one_request_and_no_ping(
    daemon: tuple[str, list[str], dict[str, Handler]],
) -> None:
    host, seen, routes = daemon
    routes["/v1.41/containers/json"] = lambda h: _json(h, 200, [{"Id": "a" * 64}])
    assert main(["-H", host, "ps", "-q"]) == 0
    assert [line.split("?")[0] for line in seen] == ["GET /v1.41/containers/json"]


def test_chunked_and_close_delimited_answers_and_a_chunked_upload(
    daemon: tuple[str, list[str], dict[str, Handler]],
) -> None:
    host, _, routes = daemon
    received: list[bytes] = []

    def stream(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for message in ({"status": "one"}, {"status": "two"}):
            data = json.dumps(message).encode() + b"\r\n"
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        h.wfile.write(b"0\r\n\r\n")

    def upload(h: BaseHTTPRequestHandler) -> None:
        assert h.headers["Transfer-Encoding"] == "chunked"
        body = b""
        while size := int(h.rfile.readline().strip(), 16):
            body += h.rfile.read(size)
            h.rfile.readline()
        h.rfile.readline()
        received.append(body)
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"until the close")

    routes["/v1.41/stream"] = stream
    routes["/v1.41/upload"] = upload
    client = Client(Endpoint.parse(host))
    assert list(client.request("GET", "/stream").messages()) == [
        {"status": "one"},
        {"status": "two"},
    ]
    payload = bytes(range(256)) * 1000
    answer = client.request("POST", "/upload", body=io.BytesIO(payload)).read()
    assert answer == b"until the close"
    assert received == [payload]
