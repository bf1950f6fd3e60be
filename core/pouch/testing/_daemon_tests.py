"""Conformance test of containers outliving the daemon: ``pouchd`` is killed with SIGKILL.

A real ``pouchd`` (``pouch.testing.daemon``) runs the runtime in a process of
its own and starts containers through the API; then the process is killed
outright, with no chance to clean up. While no daemon runs, one container
exits and another is killed by a signal; a restarted daemon must find the
running one still running and logging through its own monitor, and report the
real exit codes of the others. Nothing the killed daemon started may linger
as a zombie. Needs ``Capability.RESTORE``.

Bound into ``RuntimeConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from pouch.drivers import Capability
from pouch.testing._suite import SuiteBase
from pouch.testing.daemon import PouchDaemon, import_busybox_api, running_pouchd, start_pouchd

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__: list[str] = []

# Started in this order: the short one last, so that it still runs when the
# three are checked even where each start takes seconds (a VM).
_SCRIPTS = {
    "long": "trap 'exit 0' TERM; while :; do echo tick; sleep 0.2; done",
    "killed": "trap 'exit 0' TERM; while :; do sleep 0.2; done",
    "short": "sleep 2; echo bye; exit 42",
}


async def test_containers_outlive_a_killed_daemon(
    self: SuiteBase, engine: Engine, busybox_rootfs: Path, tmp_path: Path
) -> None:
    self.require(engine, Capability.RESTORE)
    # Blocking HTTP and process waits, each with its own deadline, off the event loop.
    await anyio.to_thread.run_sync(_kill_and_restart, self.runtime, busybox_rootfs, tmp_path)


def _kill_and_restart(runtime: str, busybox_rootfs: Path, tmp_path: Path) -> None:
    with running_pouchd(tmp_path / "pouchd", runtime=runtime) as daemon:
        import_busybox_api(daemon, busybox_rootfs)
        ids = {name: _run(daemon, name, script) for name, script in _SCRIPTS.items()}
        first = {name: _inspect(daemon, cid) for name, cid in ids.items()}
        assert {view["State"]["Status"] for view in first.values()} == {"running"}, first

        left = _kill(daemon)
        # While no daemon runs: one exits by itself, one is killed by a signal.
        pid = first["killed"]["State"]["Pid"]
        if pid > 0:  # a runtime that shows no host PID (a VM) skips this part
            os.kill(pid, signal.SIGKILL)
        log = Path(first["short"]["LogPath"])
        _wait(lambda: log.exists() and b"bye" in log.read_bytes(), "short's output", 20)
        time.sleep(1.0)  # its exit reaches its monitor's files

        start_pouchd(daemon)
        long, short = _inspect(daemon, ids["long"]), _inspect(daemon, ids["short"])
        assert long["State"]["Status"] == "running", long["State"]
        assert (short["State"]["Status"], short["State"]["ExitCode"]) == ("exited", 42)
        assert _logs(daemon, ids["short"]) == [b"bye"]
        if pid > 0:
            killed = _inspect(daemon, ids["killed"])["State"]
            assert (killed["Status"], killed["ExitCode"]) == ("exited", 137), killed
        before = len(_logs(daemon, ids["long"]))
        _wait(lambda: len(_logs(daemon, ids["long"])) > before, "long to log on", 10)
        assert daemon.request("POST", f"/containers/{ids['long']}/stop", query={"t": 1})[0] == 204
        assert _inspect(daemon, ids["long"])["State"]["Status"] == "exited"
    # An orphaned monitor is reaped by the host's init, which may take a moment.
    _wait(lambda: not [p for p in left if _state(p) == "Z"], f"zombies among {left}", 15)


def _run(daemon: PouchDaemon, name: str, script: str) -> str:
    body = {"Image": "busybox:latest", "Cmd": ["sh", "-c", script]}
    cid = str(daemon.json("POST", "/containers/create", body, query={"name": name})["Id"])
    daemon.json("POST", f"/containers/{cid}/start")
    return cid


def _inspect(daemon: PouchDaemon, cid: str) -> dict[str, Any]:
    view: dict[str, Any] = daemon.json("GET", f"/containers/{cid}/json")
    return view


def _logs(daemon: PouchDaemon, cid: str) -> list[bytes]:
    """stdout lines, demultiplexed from the API's frames (8-byte headers)."""
    status, _, data = daemon.request(
        "GET", f"/containers/{cid}/logs", query={"stdout": 1, "stderr": 1}
    )
    assert status == 200, data
    out = b""
    while data:
        kind, size = struct.unpack(">BxxxL", data[:8])
        if kind == 1:
            out += data[8 : 8 + size]
        data = data[8 + size :]
    return out.splitlines()


def _kill(daemon: PouchDaemon) -> list[int]:
    """SIGKILL the daemon; the processes it had started (they must not become zombies)."""
    process, daemon.process = daemon.process, None
    assert process is not None
    left = _descendants(process.pid)
    process.kill()
    process.wait(timeout=20)
    return left


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _wait(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
