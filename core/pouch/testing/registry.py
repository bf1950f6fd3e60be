"""A real OCI registry for tests: Debian's ``docker-registry`` on 127.0.0.1.

``running_registry()`` starts ``/usr/bin/docker-registry serve CONFIG`` on a
free loopback port with its storage, config, log and (optionally) htpasswd
file under a fresh temporary directory, waits (bounded) until ``/v2/``
answers, yields a ``Registry`` and then stops it by its PID (SIGTERM, then
SIGKILL) and removes the directory, also when the test failed. The
``registry`` fixture of the pouch pytest plugin wraps it. ``Registry.requests``
reads the registry's own JSON log, so a test can count what a client asked for.

This module only runs a registry and reads its log; pushing test images is
``pouch.testing.images``' job. Nothing here listens beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from pouch.testing.token_server import TokenServer

__all__ = [
    "REGISTRY_BINARY",
    "Registry",
    "RegistryMissing",
    "RegistryRequest",
    "htpasswd_line",
    "running_registry",
]

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0


class RegistryMissing(RuntimeError):
    """``docker-registry`` (or ``htpasswd`` for an authenticated one) is not installed."""


class RegistryRequest(msgspec.Struct, frozen=True):
    """One request the registry answered, from its log."""

    method: str
    uri: str
    status: int


class Registry(msgspec.Struct, kw_only=True):
    """A running registry: ``address`` is ``127.0.0.1:PORT``; HTTPS when ``certificate``."""

    address: str
    root: Path
    pid: int
    users: dict[str, str] = {}
    certificate: Path | None = None  # the self-signed certificate it serves, with tls=True
    token_server: TokenServer | None = None  # with token_auth=True

    @property
    def url(self) -> str:
        return f"{'https' if self.certificate else 'http'}://{self.address}"

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    def requests(self) -> list[RegistryRequest]:
        """Every request answered so far, oldest first."""
        found: list[RegistryRequest] = []
        try:
            lines = self.log_path.read_text().splitlines()
        except FileNotFoundError:
            return found
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            method = entry.get("http.request.method")
            status = entry.get("http.response.status")
            if method and isinstance(status, int):
                found.append(RegistryRequest(method, entry.get("http.request.uri", ""), status))
        return found

    def blob_gets(self) -> list[RegistryRequest]:
        """The blob downloads answered (``GET /v2/<name>/blobs/<digest>``)."""
        return [r for r in self.requests() if r.method == "GET" and "/blobs/sha256:" in r.uri]


def htpasswd_line(user: str, password: str) -> str:
    """One bcrypt ``user:hash`` line, made by apache2-utils' ``htpasswd -B``."""
    program = shutil.which("htpasswd")
    if program is None:
        raise RegistryMissing(
            "htpasswd not found: an authenticated test registry needs it; "
            "run 'apt-get install apache2-utils'"
        )
    result = subprocess.run(
        [program, "-nbB", user, password], capture_output=True, check=True, timeout=30
    )
    return result.stdout.decode().strip()


def _self_signed(root: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with openssl."""
    program = shutil.which("openssl")
    if program is None:
        raise RegistryMissing("openssl not found: a TLS test registry needs it")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [program, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(
    root: Path,
    port: int,
    auth: dict[str, Any] | None,
    tls: tuple[Path, Path] | None,
    proxy: str | None = None,
) -> dict[str, object]:
    config: dict[str, object] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "json", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "pouch-test-registry"},
    }
    if tls is not None:
        config["http"] = {
            "addr": f"127.0.0.1:{port}",
            "secret": "pouch-test-registry",
            "tls": {"certificate": str(tls[0]), "key": str(tls[1])},
        }
    if auth is not None:
        config["auth"] = auth
    if proxy is not None:
        config["proxy"] = {"remoteurl": proxy}
    return config


def _answers(address: str, tls: bool) -> bool:
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            address, timeout=1.0, context=context
        )
    else:
        conn = http.client.HTTPConnection(address, timeout=1.0)
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status in (200, 401)
    except OSError:
        return False
    finally:
        conn.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=_STOP_TIMEOUT)


@contextlib.contextmanager
def running_registry(
    *,
    users: Mapping[str, str] | None = None,
    token_auth: bool = False,
    tls: bool = False,
    proxy: str | None = None,
    binary: Path = REGISTRY_BINARY,
) -> Iterator[Registry]:
    """A registry on 127.0.0.1 for the block.

    ``proxy`` (``http://127.0.0.1:PORT``) makes it a pull-through cache of
    that registry, as a mirror in front of it, read-only.
    ``users`` turns on htpasswd basic auth, or with ``token_auth`` bearer-token
    auth through a ``TokenServer`` (``Registry.token_server``) that knows them;
    ``tls`` serves HTTPS with a fresh self-signed certificate
    (``Registry.certificate``).
    """
    if not binary.is_file():
        raise RegistryMissing(
            f"{binary} not found: the registry tests need Debian's registry; "
            "run 'apt-get install docker-registry'"
        )
    root = Path(tempfile.mkdtemp(prefix="pouch-registry-"))
    process: subprocess.Popen[bytes] | None = None
    stack = contextlib.ExitStack()
    try:
        auth: dict[str, Any] | None = None
        tokens: TokenServer | None = None
        if token_auth:
            tokens = stack.enter_context(TokenServer(root, users or {}))
            auth = tokens.registry_config()
        elif users:
            htpasswd = root / "htpasswd"
            htpasswd.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in users.items()))
            auth = {"htpasswd": {"realm": "pouch-test", "path": str(htpasswd)}}
        pair = _self_signed(root) if tls else None
        for _attempt in range(3):  # the free port may be taken before the registry binds it
            port = _free_port()
            config = root / "config.yml"  # JSON is YAML: no YAML writer needed
            config.write_text(json.dumps(_config(root, port, auth, pair, proxy)))
            with open(root / "registry.log", "ab") as log:
                process = subprocess.Popen(
                    [str(binary), "serve", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            address = f"127.0.0.1:{port}"
            deadline = time.monotonic() + _START_TIMEOUT
            while time.monotonic() < deadline and process.poll() is None:
                if _answers(address, tls):
                    break
                time.sleep(0.05)
            if process.poll() is None and _answers(address, tls):
                yield Registry(
                    address=address,
                    root=root,
                    pid=process.pid,
                    users=dict(users or {}),
                    certificate=pair[0] if pair else None,
                    token_server=tokens,
                )
                return
            _stop(process)
            process = None
        log_tail = (root / "registry.log").read_text()[-2000:]
        raise RuntimeError(f"docker-registry did not start; its log ends:\n{log_tail}")
    finally:
        if process is not None:
            _stop(process)
        stack.close()
        shutil.rmtree(root, ignore_errors=True)
