"""Fixtures for the registry client tests: short state roots, a fake registry, mounts.

The real registry (``registry`` fixture, Debian's docker-registry) serves most
tests. ``FakeRegistry`` stands in only where a real one cannot misbehave on
purpose: serving a tampered blob, cutting a download short, redirecting blob
downloads to "storage", failing like a broken mirror, and showing the headers
of every request (its bearer tokens are opaque strings it checks itself; the
real registry's token auth is tested with ``pouch.testing.token_server``).
Everything listens on 127.0.0.1 only and is stopped at teardown.
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pouch.config import EngineConfig, RegistrySettings
from pouch.engine import Engine
from pouch.testing.registry_images import TestImage


class FakeRegistry:
    """A minimal API v2 registry in a thread: manifests and blobs from dicts.

    ``tampered[digest]`` is served instead of the real blob; ``truncated``
    blobs stop half-way with the full Content-Length; ``redirect`` sends blob
    GETs to ``/storage/…`` on ``localhost`` (another host for the client);
    ``fail_with`` answers every API request with that status; ``users`` turns
    on bearer-token auth with the ``/token`` endpoint. Blob GETs honour
    ``Range: bytes=N-`` (206) unless ``ranges`` is False.
    """

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.tampered: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.redirect = False
        self.fail_with = 0
        self.ranges = True
        self.users = users
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.token_requests: list[str] = []
        self._tokens: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=functools.partial(self._server.serve_forever, 0.05), daemon=True
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add(self, repo: str, image: TestImage, tag: str = "latest") -> str:
        for child in image.children:
            self.add(repo, child, child.digest)
        self.blobs.update(image.blobs)
        for ref in (tag, image.digest):
            self.manifests[(repo, ref)] = (image.manifest, image.media_type)
        return image.digest

    def paths(self, method: str = "GET") -> list[str]:
        with self._lock:
            return [path for m, path, _ in self.requests if m == method]

    def __enter__(self) -> FakeRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- the server ------------------------------------------------------------

    def _authorized(self, path: str, header: str) -> bool:
        if self.users is None:
            return True
        scopes = self._tokens.get(header.removeprefix("Bearer "), None)
        if scopes is None:
            return False
        repo = path.removeprefix("/v2/").split("/manifests/")[0].split("/blobs/")[0]
        return path == "/v2/" or f"repository:{repo}:pull" in scopes

    def _token(self, query: dict[str, list[str]], header: str) -> tuple[int, bytes]:
        assert self.users is not None
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                return 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad password"}]}'
        scopes = query.get("scope", [])
        token = f"token-{len(self._tokens)}"
        with self._lock:
            self._tokens[token] = scopes
            self.token_requests.extend(scopes or [""])
        return 200, msgspec.json.encode({"token": token, "expires_in": 300})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", headers.get("length", str(len(body))))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                from urllib.parse import parse_qs, urlsplit

                parts = urlsplit(self.path)
                auth = self.headers.get("Authorization", "")
                with fake._lock:
                    fake.requests.append((self.command, parts.path, dict(self.headers)))
                if parts.path == "/token":
                    self._send(*fake._token(parse_qs(parts.query), auth))
                elif parts.path.startswith("/storage/"):
                    self._blob(parts.path.removeprefix("/storage/"))
                elif fake.fail_with:
                    self._send(fake.fail_with, b'{"errors":[{"code":"UNAVAILABLE"}]}')
                elif not fake._authorized(parts.path, auth):
                    repo = parts.path.removeprefix("/v2/").split("/")[0]
                    challenge = (
                        f'Bearer realm="http://{fake.address}/token",service="fake",'
                        f'scope="repository:{repo}:pull"'
                    )
                    self._send(
                        401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', WWW_Authenticate=challenge
                    )
                elif parts.path == "/v2/":
                    self._send(200, b"{}")
                elif "/manifests/" in parts.path:
                    repo, _, ref = parts.path.removeprefix("/v2/").partition("/manifests/")
                    found = fake.manifests.get((repo, ref))
                    if found is None:
                        self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                    else:
                        self._send(200, found[0], Content_Type=found[1])
                elif "/blobs/" in parts.path:
                    digest = parts.path.rpartition("/")[2]
                    if fake.redirect:
                        port = fake.address.rpartition(":")[2]
                        self._send(307, Location=f"http://localhost:{port}/storage/{digest}")
                    else:
                        self._blob(digest)
                else:
                    self._send(404)

            def _blob(self, digest: str) -> None:
                data = fake.tampered.get(digest, fake.blobs.get(digest))
                if data is None:
                    self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                elif digest in fake.truncated:
                    self._send(200, data[: len(data) // 2], length=str(len(data)))
                    self.close_connection = True
                elif self.headers.get("Range", "").startswith("bytes=") and fake.ranges:
                    start = int(self.headers["Range"][6:].partition("-")[0])
                    rest = data[start:]
                    end = f"{start}-{len(data) - 1}/{len(data)}"
                    self._send(206, rest, Content_Range=f"bytes {end}")
                else:
                    self._send(200, data)

        return Handler


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        yield fake


@pytest.fixture
def fake_factory() -> Iterator[Callable[..., FakeRegistry]]:
    """``fake_factory(users={...})``: more fake registries, all stopped at teardown."""
    started: list[FakeRegistry] = []

    def make(**kwargs: Any) -> FakeRegistry:
        fake = FakeRegistry(**kwargs).__enter__()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.__exit__()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short temporary dir: overlay options list every layer's path (100+ layers)."""
    path = Path(tempfile.mkdtemp(prefix="p", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pouch_config(pouch_config: EngineConfig, short_dir: Path) -> EngineConfig:
    """The engine's state under a short root; credentials in the test's own dir."""
    settings = RegistrySettings(auth_file=short_dir / "auth" / "config.json")
    return msgspec.structs.replace(pouch_config, root=short_dir / "r", registries=settings)


@pytest.fixture
def make_engine(
    pouch_config: EngineConfig,
) -> Callable[..., AbstractAsyncContextManager[Engine]]:
    """``async with make_engine(mirrors=[...]) as e``: another engine on fresh dirs."""

    @asynccontextmanager
    async def make(**registry_settings: Any) -> AsyncIterator[Engine]:
        root = Path(tempfile.mkdtemp(prefix="p", dir="/tmp"))
        try:
            settings = RegistrySettings(auth_file=root / "auth.json", **registry_settings)
            config = msgspec.structs.replace(
                pouch_config, root=root / "r", run_root=root / "run", registries=settings
            )
            async with Engine(config) as engine:
                yield engine
        finally:
            shutil.rmtree(root, ignore_errors=True)

    return make


@contextmanager
def _mounted(engine: Engine, image: str, target: Path) -> Iterator[Path]:
    """The image's rootfs overlay mounted on ``target``; unmounted and released after."""
    key = f"test-{os.getpid()}-{threading.get_ident()}"
    mounts = engine.images.store.rootfs(key, image)
    target.mkdir(parents=True, exist_ok=True)
    done = False
    try:
        for mount in mounts:
            command = ["mount", "-t", mount.type, "-o", ",".join(mount.options), mount.source]
            subprocess.run([*command, str(target)], check=True, capture_output=True)
            done = True
        yield target
    finally:
        if done and subprocess.run(["umount", str(target)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
        engine.images.store.release(key)


@pytest.fixture
def mounted() -> Callable[[Engine, str, Path], AbstractContextManager[Path]]:
    """``with mounted(engine, ref, dir)``: the image's rootfs, always unmounted after."""
    return _mounted
