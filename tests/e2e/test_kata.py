"""kata containers as docker's CLI drives them: a VM per container on the CNI bridge.

Slow: each container boots a QEMU micro-VM (about 3 s under TCG). Needs the
guest assets that ``scripts/setup`` builds (``pouch-kata assets build``).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from pouch.testing.daemon import PouchDaemon

pytestmark = [pytest.mark.root, pytest.mark.slow]

Docker = Callable[..., subprocess.CompletedProcess[str]]
ASSETS = Path(os.environ.get("POUCH_KATA_ASSETS", "/var/lib/pouch/kata/assets"))


@pytest.fixture
def pouchd_settings(pouchd_settings: dict[str, object]) -> dict[str, object]:
    pytest.importorskip("pouch_kata", reason="needs pouch-kata installed")
    if not (ASSETS / "manifest.json").exists():
        pytest.skip(f"no kata guest assets in {ASSETS}; run: pouch-kata assets build")
    plugins = dict(pouchd_settings["plugin"])  # type: ignore[call-overload]
    plugins["kata"] = {"assets": str(ASSETS), "accel": "tcg"}
    return {**pouchd_settings, "plugin": plugins}


def _vm_processes(pouchd: PouchDaemon) -> list[str]:
    """QEMU and virtiofsd processes of this pouchd's VMs."""
    from pouch_kata._guest import state_root

    where = str(state_root(pouchd.run_root)).encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(where in arg for arg in argv):
            found.append(b" ".join(argv[:2]).decode(errors="replace"))
    return found


def test_a_kata_container_runs_on_its_own_kernel(pouchd: PouchDaemon, docker: Docker) -> None:
    out = docker("run", "--rm", "--runtime", "kata", "busybox", "uname", "-r").stdout.strip()
    assert out.endswith("-cloud-amd64") and out != platform.release()
    failed = docker("run", "--rm", "--runtime", "kata", "busybox", "sh", "-c", "exit 7",
                    check=False)  # fmt: skip
    assert failed.returncode == 7
    assert not _vm_processes(pouchd)


def test_ports_and_names_reach_kata_and_runc_alike(pouchd: PouchDaemon, docker: Docker) -> None:
    docker("network", "create", "katanet")
    httpd = ["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]
    docker("run", "-d", "--name", "web", "--network", "katanet", "--runtime", "kata",
           "-p", "127.0.0.1:18481:80", *httpd)  # fmt: skip
    docker("run", "-d", "--name", "peer", "--network", "katanet", "--runtime", "kata",
           "busybox", "sleep", "300")  # fmt: skip
    docker("run", "-d", "--name", "plain", "--network", "katanet", *httpd)
    web_id = docker("inspect", "-f", "{{.Id}}", "web").stdout.strip()
    body = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the VM boots while docker run returns
        try:
            with urllib.request.urlopen("http://127.0.0.1:18481/hostname", timeout=5) as reply:
                body = reply.read().decode()
            break
        except OSError:
            time.sleep(0.5)
    assert body.strip() == web_id[:12]
    # (busybox's wget crashes in this guest when it writes to a pipe: nc asks)
    request = (
        "for try in 1 2 3 4 5; do printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' "
        "| nc -w 5 {} 80 | tail -n 1 | grep . && break; sleep 1; done"
    )
    # kata to kata, and kata to runc, by name
    assert docker("exec", "peer", "sh", "-c", request.format("web")).stdout.strip() == web_id[:12]
    plain = docker("exec", "peer", "sh", "-c", request.format("plain")).stdout.strip()
    assert plain == docker("inspect", "-f", "{{.Id}}", "plain").stdout.strip()[:12]
    # runc to kata
    got = docker("exec", "plain", "wget", "-q", "-O", "-", "http://web/hostname").stdout.strip()
    assert got == web_id[:12]
    docker("rm", "-f", "web", "peer", "plain")
    docker("network", "rm", "katanet")
    assert not _vm_processes(pouchd)
    from pouch_kata._guest import state_root

    assert str(state_root(pouchd.run_root)) not in Path("/proc/self/mountinfo").read_text()
