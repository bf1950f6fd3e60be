"""``pouch run --runtime lxc`` against a real pouchd, as a user types it.

The daemon is ``pouch.testing.daemon``'s: a pouchd subprocess on temporary
directories, stopped and cleaned up after the test.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from pouch.testing.daemon import PouchDaemon, pouchd, pouchd_busybox

__all__ = ["pouchd", "pouchd_busybox"]

pytestmark = [pytest.mark.root, pytest.mark.binary("lxc-start", "lxc-attach")]


@pytest.fixture
def pouch_runtime() -> str:
    return "lxc"


def pouch(daemon: PouchDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pouch", *args],
        env={**os.environ, "POUCH_HOST": daemon.host},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_rm_prints_hello(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    result = pouch(pouchd, "run", "--runtime", "lxc", "--rm", "busybox", "echo", "hello")
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    assert pouch(pouchd, "ps", "-a", "-q").stdout == ""  # --rm removed it
    result = pouch(pouchd, "run", "--runtime", "lxc", "--rm", "busybox", "sh", "-c", "exit 3")
    assert result.returncode == 3


def test_published_port_on_a_bridge_network(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    drivers = pouchd.json("GET", "/info").get("Plugins", {}).get("Network", [])
    if "bridge" not in drivers:
        pytest.skip(f"needs the CNI bridge network driver (have: {drivers})")
    name = "pl" + secrets.token_hex(3)
    subnet = f"10.239.{secrets.randbelow(250) + 1}.0/24"
    created = pouch(pouchd, "network", "create", "--driver", "bridge", "--subnet", subnet, name)
    assert created.returncode == 0, created.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    page = "mkdir -p /www && echo hi-from-lxc > /www/index.html && exec httpd -f -p 80 -h /www"
    try:
        run = pouch(
            pouchd, "run", "-d", "--runtime", "lxc", "--network", name,
            "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c", page,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    assert answer.read() == b"hi-from-lxc\n"
                    break
            except OSError:
                assert time.monotonic() < deadline, "the published port never answered"
                time.sleep(0.1)
    finally:
        pouch(pouchd, "rm", "-f", *pouch(pouchd, "ps", "-a", "-q").stdout.split())
        pouch(pouchd, "network", "rm", name)
