"""What must hold after every restart: the acknowledgments kept, states true, logs whole.

- every container whose create returned is there, every one whose ``rm``
  returned is not;
- a running container's process is alive; a container that printed its last
  line exited with its own code (not "lost while pouch was down");
- a container's log is the lines it printed, in order, none lost or repeated;
- the database passes SQLite's ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import struct
import time
from pathlib import Path
from typing import Any

from pouch.testing.chaos._ledger import Expected, Ledger
from pouch.testing.daemon import PouchDaemon

__all__ = ["check_after_restart", "database_is_sound", "log_lines", "query_database"]

# How long the engine may take to record an exit it is told of.
_EXIT_SEEN_WITHIN = 10.0
_STATES = {"created", "running", "paused", "exited", "restarting", "dead"}


def log_lines(daemon: PouchDaemon, container_id: str) -> list[str]:
    """The container's output from ``GET /containers/{id}/logs`` (multiplexed frames)."""
    status, _, body = daemon.request(
        "GET", f"/containers/{container_id}/logs", query={"stdout": 1, "stderr": 1}
    )
    if status != 200:
        raise AssertionError(f"logs of {container_id[:12]}: {status} {body[:200]!r}")
    out, offset = bytearray(), 0
    while offset + 8 <= len(body):
        (size,) = struct.unpack(">I", body[offset + 4 : offset + 8])
        out += body[offset + 8 : offset + 8 + size]
        offset += 8 + size
    return out.decode(errors="replace").splitlines()


def _log_problem(lines: list[str], expected: Expected) -> str | None:
    if not lines:
        return None
    if lines[0] != "start":
        return f"log starts with {lines[0]!r}"
    body = lines[1:]
    ended = bool(body) and body[-1] == "end"
    if ended:
        body = body[:-1]
    wanted = [f"line-{i}" for i in range(len(body))]
    if body != wanted:
        bad = next(i for i, (a, b) in enumerate(zip(body, wanted, strict=False)) if a != b)
        return f"log line {bad + 1} is {body[bad]!r}, expected {wanted[bad]!r}"
    if ended and len(body) != expected.lines:
        return f"log ends after {len(body)} of {expected.lines} lines"
    return None


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _settled(daemon: PouchDaemon, info: dict[str, Any]) -> dict[str, Any]:
    """``info`` again once the engine saw its process end (bounded), if it just did."""
    deadline = time.monotonic() + _EXIT_SEEN_WITHIN
    while info["State"]["Status"] == "running" and not _alive(info["State"]["Pid"]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
        status, _, body = daemon.request("GET", f"/containers/{info['Id']}/json")
        if status != 200:
            break
        info = json.loads(body)
    return info


def _check_one(daemon: PouchDaemon, info: dict[str, Any], expected: Expected | None) -> list[str]:
    info = _settled(daemon, info)
    name = info["Name"].lstrip("/")
    state = info["State"]
    problems = []
    if state["Status"] not in _STATES:
        problems.append(f"{name}: unknown state {state['Status']!r}")
    if state["Status"] == "running" and not _alive(state["Pid"]):
        problems.append(
            f"{name}: running, but its process {state['Pid']} has been gone for"
            f" {_EXIT_SEEN_WITHIN:.0f}s"
        )
    if expected is None:
        return problems
    try:
        lines = log_lines(daemon, info["Id"])
    except (OSError, http.client.HTTPException, AssertionError) as exc:
        return [*problems, f"{name}: reading its log failed: {exc!r}"]
    problem = _log_problem(lines, expected)
    if problem:
        problems.append(f"{name} ({expected.runtime}): {problem}")
    finished = bool(lines) and lines[-1] == "end"
    if (
        state["Status"] == "exited"
        and finished
        and not expected.interfered
        and state["ExitCode"] != expected.code
    ):
        problems.append(
            f"{name} ({expected.runtime}): exited {state['ExitCode']}"
            f" ({state.get('Error') or 'no error'}), its own code was {expected.code}"
        )
    return problems


def check_after_restart(daemon: PouchDaemon, ledger: Ledger) -> list[str]:
    """Every violation of the invariants, as a line naming the container."""
    listed = daemon.json("GET", "/containers/json", query={"all": 1})
    present = {c["Id"]: c for c in listed}
    problems = []
    for expected in list(ledger.containers.values()):
        if expected.acknowledged and expected.id not in present:
            problems.append(
                f"{expected.name} ({expected.runtime}, {expected.id[:12]}): acknowledged,"
                f" now missing; its history: {'; '.join(expected.history)}"
            )
    for container_id in ledger.removed & set(present):
        problems.append(f"{container_id[:12]}: its rm returned, yet it is back")
    by_name = {e.name: e for e in ledger.containers.values()}
    for container_id in present:
        ledger.seen_ids.add(container_id)
        status, _, _ = daemon.request("GET", f"/containers/{container_id}/json")
        if status == 404:
            continue  # removed meanwhile by an --rm or a worker
        info = daemon.json("GET", f"/containers/{container_id}/json")
        name = info["Name"].lstrip("/")
        found = by_name.get(name)
        if found is not None and not found.id:
            found.id = container_id  # an interrupted create that completed
        problems += _check_one(daemon, info, found)
    problems += database_is_sound(daemon.root / "pouch.db")
    return problems


def query_database(path: Path, sql: str) -> list[Any]:
    """The rows of ``sql`` on pouchd's database, opened read-only; none when it is absent."""
    if not path.exists():
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def database_is_sound(path: Path) -> list[str]:
    result = query_database(path, "PRAGMA integrity_check")
    if not path.exists() or result == [("ok",)]:
        return []
    return [f"database {path}: integrity_check says {result}"]
