"""A token service for a test registry: docker's bearer-token protocol on 127.0.0.1.

``TokenServer`` answers ``GET /token?service=…&scope=…`` (with HTTP basic
credentials, or none) with ``{"token": JWT}``; the JWT is signed RS256 with a
fresh self-signed certificate (made with ``openssl``) that the registry is
given as its ``rootcertbundle``, and carries the certificate in ``x5c``, as
docker-registry's ``auth: token:`` verifies it. Users with the right password
get every action they ask for; anyone else gets a token with no access, so
the registry refuses them. It records what was asked. This module must not
start the registry itself: ``pouch.testing.registry`` does.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["TokenServer"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues registry tokens for ``users``; use as a context manager."""

    def __init__(
        self,
        root: Path,
        users: Mapping[str, str],
        *,
        service: str = "pouch-test-registry",
        issuer: str = "pouch-test-token-server",
    ) -> None:
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.certificate, self._key = self._make_key(root)
        pem = self.certificate.read_text().splitlines()
        self._x5c = "".join(line for line in pem if line and not line.startswith("-----"))
        self.requests: list[tuple[str, list[str]]] = []  # (user or "", scopes)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="token-server", daemon=True
        )

    @staticmethod
    def _make_key(root: Path) -> tuple[Path, Path]:
        program = shutil.which("openssl")
        if program is None:
            raise RuntimeError("openssl not found: the token server signs with it")
        cert, key = root / "token-cert.pem", root / "token-key.pem"
        subprocess.run(
            [program, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=pouch test token issuer", "-keyout", str(key), "-out", str(cert)],
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
        return cert, key

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def registry_config(self) -> dict[str, Any]:
        """The ``auth`` section of docker-registry's config that trusts this server."""
        return {
            "token": {
                "realm": self.realm,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.certificate),
            }
        }

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _sign(self, data: bytes) -> bytes:
        result = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self._key)],
            input=data,
            capture_output=True,
            check=True,
            timeout=30,
        )
        return result.stdout

    def issue(self, user: str, scopes: list[str]) -> str:
        """A signed token granting ``user`` (authenticated, or "") the ``scopes``."""
        access = []
        for scope in scopes if user else []:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        return f"{signing_input}.{_b64url(self._sign(signing_input.encode()))}"

    def _answer(self, query: str, authorization: str) -> tuple[int, bytes]:
        user = ""
        if authorization.startswith("Basic "):
            name, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if self.users.get(name) != password:
                return 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
            user = name
        scopes = [s for value in parse_qs(query).get("scope", []) for s in value.split(" ") if s]
        with self._lock:
            self.requests.append((user, scopes))
        body = {"token": self.issue(user, scopes), "expires_in": 300}
        return 200, json.dumps(body).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/token":
                    status, body = 404, b"{}"
                else:
                    status, body = server._answer(
                        parts.query, self.headers.get("Authorization", "")
                    )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
