"""A real ``pouchd`` for tests: a subprocess on temporary directories and a short socket.

``running_pouchd()`` writes a pouchd.toml (state under ``root``, the run root
and socket under a short /tmp directory: unix socket paths are limited to 108
bytes), starts the daemon, waits (bounded) until ``/_ping`` answers, and at
the end stops it with SIGTERM (SIGKILL after a grace period), then starts an
engine on the same directories once more to remove every container left, so
no process outlives the test. With the ``process`` runtime the daemon runs
through ``pouch.testing._pouchd_launcher`` (pouchd plus the host-process test
runtime and the ``fake`` network driver); with any other runtime it is the
plain ``pouchd`` program and the runtime comes from an installed plugin.

``PouchDaemon`` speaks HTTP to the socket with the standard library, for
tests that check the API itself; ``host`` is what ``DOCKER_HOST`` takes.

Fixtures, registered by the ``pouch.testing`` pytest plugin so every project
has them without a conftest:

``pouchd``
    a daemon for the test, on the runtime ``pouch_runtime`` names (override
    that fixture in a test module: ``preferred_runtime()`` picks runc where
    this host can run it); skips, with the plugins' reasons, where the
    runtime is not available. Its containers are on the network ``none``
    unless ``pouchd_settings`` says otherwise.
``pouchd_settings``
    engine settings written into the daemon's pouchd.toml over the fixture's
    own (``{"default_network": "bridge"}`` for a test about networks).
``pouchd_busybox``
    ``busybox:latest`` imported into ``pouchd`` through the API.
``docker_cli``
    ``(docker binary, environment)`` pointing Debian's docker client at
    ``pouchd``; skips where no docker client is installed.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "BUSYBOX_CHANGES",
    "DEBIAN_DOCKER",
    "PouchDaemon",
    "UnixHTTPConnection",
    "docker_cli",
    "import_busybox_api",
    "pouchd",
    "pouchd_busybox",
    "pouchd_settings",
    "preferred_runtime",
    "restart_pouchd",
    "running_pouchd",
    "start_pouchd",
    "stop_pouchd",
]

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 20.0

# Debian's docker.io client (API 1.41); any other docker client on PATH is
# used where that one is absent.
DEBIAN_DOCKER = Path("/usr/bin/docker")

# What ``docker import --change`` gives the busybox rootfs: docker hub's config.
BUSYBOX_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["sh"]',
)


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a unix socket."""

    def __init__(self, path: str, timeout: float = 60.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class PouchDaemon:
    """A running pouchd: its directories, its log, and a small HTTP client."""

    def __init__(
        self, *, root: Path, run_root: Path, config_path: Path, runtime: str, log_path: Path
    ) -> None:
        self.root = root
        self.run_root = run_root
        self.socket = run_root / "pouchd.sock"
        self.config_path = config_path
        self.runtime = runtime
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request; (status, headers with lowercase names, body)."""
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        conn = UnixHTTPConnection(str(self.socket), timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def json(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        query: Mapping[str, Any] | None = None,
        expect: int | tuple[int, ...] = (200, 201, 204),
    ) -> Any:
        """A JSON request; the decoded answer, or AssertionError with the daemon's message."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        status, _, raw = self.request(method, path, data, query=query, headers=headers)
        wanted = (expect,) if isinstance(expect, int) else expect
        if status not in wanted:
            raise AssertionError(f"{method} {path}: {status} {raw.decode(errors='replace')}")
        return json.loads(raw) if raw.strip() else None

    def answers(self) -> bool:
        try:
            return self.request("GET", "/_ping", timeout=2)[0] == 200
        except OSError:
            return False


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value) if isinstance(value, Path) else value)


def _engine_settings(daemon: PouchDaemon, extra: Mapping[str, object]) -> dict[str, object]:
    # The network none unless a test asks for another: tests then need no
    # network plugin, and a container of one test is never on another's bridge.
    return {
        "root": daemon.root,
        "run_root": daemon.run_root,
        "default_runtime": daemon.runtime,
        "default_network": "none",
        "discover_plugins": daemon.runtime != "process",
        # Never the host's /etc/pouch/hooks.d.
        "hooks_dirs": [str(daemon.root / "hooks.d")],
        **extra,
    }


def _write_config(daemon: PouchDaemon, extra: Mapping[str, object]) -> None:
    lines = [f"{key} = {_toml(value)}" for key, value in _engine_settings(daemon, extra).items()]
    lines += ["", "[daemon]", f"hosts = {_toml([daemon.host])}", 'log_level = "debug"']
    daemon.config_path.write_text("\n".join(lines) + "\n")


def start_pouchd(daemon: PouchDaemon) -> None:
    """Start the daemon (again); returns once it answers."""
    module = (
        "pouch.testing._pouchd_launcher" if daemon.runtime == "process" else "pouch.daemon.main"
    )
    with open(daemon.log_path, "ab") as log:
        daemon.process = subprocess.Popen(
            [sys.executable, "-m", module, "--config", str(daemon.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise RuntimeError(f"pouchd exited with {daemon.process.returncode}:\n{daemon.log()}")
        if daemon.socket.exists() and daemon.answers():
            return
        time.sleep(0.05)
    raise RuntimeError(f"pouchd did not answer within {_START_TIMEOUT}s:\n{daemon.log()[-4000:]}")


def stop_pouchd(daemon: PouchDaemon) -> int | None:
    """SIGTERM, then SIGKILL after a grace period; the exit status."""
    process, daemon.process = daemon.process, None
    if process is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=_STOP_TIMEOUT)


def restart_pouchd(daemon: PouchDaemon) -> None:
    stop_pouchd(daemon)
    start_pouchd(daemon)


def _cleanup(daemon: PouchDaemon) -> list[str]:
    """Start an engine on the daemon's settings and remove every container."""
    import anyio

    from pouch.daemon.main import load_settings, parse_args
    from pouch.testing.plugin import EngineFactory

    _, config = load_settings(parse_args(["--config", str(daemon.config_path)]))
    plugins: list[tuple[str, object]] = []
    if daemon.runtime == "process":
        from pouch.testing._pouchd_launcher import launcher_plugins

        plugins = list(launcher_plugins(config))
    return anyio.run(EngineFactory(config, plugins).cleanup)


@contextlib.contextmanager
def running_pouchd(
    root: Path, *, runtime: str = "process", settings: Mapping[str, object] | None = None
) -> Iterator[PouchDaemon]:
    """A pouchd with its state under ``root`` for the block; everything removed after."""
    run_root = Path(tempfile.mkdtemp(prefix="pouchd-", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    daemon = PouchDaemon(
        root=root / "state",
        run_root=run_root,
        config_path=root / "pouchd.toml",
        runtime=runtime,
        log_path=root / "pouchd.log",
    )
    _write_config(daemon, settings or {})
    try:
        start_pouchd(daemon)
        yield daemon
    finally:
        stop_pouchd(daemon)
        problems = _cleanup(daemon)
        shutil.rmtree(run_root, ignore_errors=True)
        if problems:
            raise AssertionError("containers left behind: " + "; ".join(problems))


def import_busybox_api(
    daemon: PouchDaemon, tarball: Path, reference: str = "busybox:latest"
) -> str:
    """Import the busybox rootfs through ``POST /images/create?fromSrc=-`` (docker import)."""
    repo, _, tag = reference.rpartition(":")
    status, _, body = daemon.request(
        "POST",
        "/images/create",
        tarball.read_bytes(),
        query={"fromSrc": "-", "repo": repo, "tag": tag, "changes": list(BUSYBOX_CHANGES)},
        headers={"Content-Type": "application/x-tar"},
    )
    if status != 200:
        raise AssertionError(f"importing busybox failed: {status} {body!r}")
    return reference


def preferred_runtime() -> tuple[str, str]:
    """``("runc", "")`` where this host runs real containers; else ``("process", why not)``.

    For a test module's ``pouch_runtime`` fixture: real clients (the docker CLI,
    docker-py) should drive real containers, and fall back to the host-process
    test runtime only where root, runc or conmon is missing.
    """
    if importlib.util.find_spec("pouch_runc") is None:
        return "process", "pouch-runc is not installed"
    if os.geteuid() != 0:
        return "process", "runc containers need root"
    missing = [name for name in ("runc", "conmon") if shutil.which(name) is None]
    if missing:
        return "process", f"{' and '.join(missing)} not found on PATH"
    return "runc", ""


def _free_block() -> int:
    """A block of the test subnets no interface of this host is on (a bridge some
    other pouchd left would take the traffic of a network on the same subnet)."""
    try:
        taken = subprocess.run(
            ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        taken = ""
    blocks = list(range(32))
    secrets.SystemRandom().shuffle(blocks)
    for block in blocks:
        octets = [96 + block, *(128 + block * 4 + i for i in range(4))]
        if not any(f" 10.231.{octet}." in taken for octet in octets):
            return block
    return blocks[0]


def cni_bridge_settings(bridge: str) -> dict[str, object]:
    """Settings for a pouchd whose default network is a CNI bridge named ``bridge``
    (``ptXXXXXX``), on subnets of 10.231.0.0/16 picked at random; skips the test
    where the CNI plugins or iptables are missing."""
    if shutil.which("iptables") is None or not Path("/usr/lib/cni/bridge").exists():
        pytest.skip("needs iptables and the CNI plugins: containernetworking-plugins")
    block = _free_block()
    return {
        "default_network": "bridge",
        "plugin": {
            "cni": {
                "default_bridge": bridge,
                "default_subnet": f"10.231.{96 + block}.0/24",
                "subnet_pool": f"10.231.{128 + block * 4}.0/22",
                "pool_prefix": 26,
            }
        },
    }


@pytest.fixture
def pouchd_settings() -> dict[str, object]:
    """Engine settings for ``pouchd``'s pouchd.toml, over the fixture's own."""
    return {}


@pytest.fixture
def pouchd(
    tmp_path: Path, pouch_runtime: str, pouchd_settings: dict[str, object]
) -> Iterator[PouchDaemon]:
    """A pouchd subprocess for the test, on the runtime ``pouch_runtime`` names."""
    if os.geteuid() != 0 and pouch_runtime != "process":
        pytest.skip(f"pouchd with the {pouch_runtime} runtime needs root")
    with running_pouchd(
        tmp_path / "pouchd", runtime=pouch_runtime, settings=pouchd_settings
    ) as daemon:
        info = daemon.json("GET", "/info")
        if pouch_runtime not in info["Runtimes"]:
            reasons = [
                f"plugin {p['name']} {p['state']}: {p.get('reason', '')}"
                for p in info["PouchPlugins"]
                if p["state"] in ("skipped", "failed")
            ]
            pytest.skip(f"runtime {pouch_runtime!r} is not available ({'; '.join(reasons)})")
        yield daemon


@pytest.fixture
def pouchd_busybox(pouchd: PouchDaemon, busybox_rootfs: Path) -> str:
    """``busybox:latest`` imported into ``pouchd`` through the API."""
    return import_busybox_api(pouchd, busybox_rootfs)


@pytest.fixture
def docker_cli(pouchd: PouchDaemon) -> tuple[str, dict[str, str]]:
    """(docker binary, environment pointing it at ``pouchd``); only the client runs."""
    binary = str(DEBIAN_DOCKER) if DEBIAN_DOCKER.exists() else shutil.which("docker")
    if binary is None:
        pytest.skip("needs the docker CLI (apt-get install docker.io)")
    config = Path(pouchd.root).parent / "docker-config"
    config.mkdir(exist_ok=True)
    env = {**os.environ, "DOCKER_HOST": pouchd.host, "DOCKER_CONFIG": str(config)}
    env.pop("DOCKER_CONTEXT", None)
    return binary, env
