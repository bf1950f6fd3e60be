"""runc through the engine, as a user sees it: no leftovers after many runs, an init as PID 1.

What every runtime owes (isolation, terminals, limits, mounts, surviving a killed
daemon) is in the conformance suites (test_conformance.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from pouch import ContainerConfig
from pouch.engine import Engine

pytestmark = [pytest.mark.anyio, pytest.mark.root, pytest.mark.binary("runc", "conmon")]


@pytest.fixture
def pouch_runtime() -> str:
    return "runc"


def cfg(**options: object) -> ContainerConfig:
    options.setdefault("image", "busybox")
    return msgspec.convert(options, ContainerConfig)


def _leftovers(engine: Engine) -> dict[str, list[str]]:
    run_root = str(engine.config.run_root)
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if run_root in line
    ]
    cgroups = (
        [p.name for p in Path("/sys/fs/cgroup/memory/pouch").glob("*") if p.is_dir()]
        if Path("/sys/fs/cgroup/memory/pouch").is_dir()
        else []
    )
    conmons = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"conmon\0") and run_root.encode() in cmdline:
            conmons.append(pid)
    bundles = [p.name for p in (engine.config.run_root / "runc" / "runc" / "containers").glob("*")]
    return {"mounts": mounts, "cgroups": cgroups, "conmon": conmons, "bundles": bundles}


@pytest.mark.slow
async def test_many_cycles_leave_nothing_behind(engine: Engine, busybox: str) -> None:
    created: set[str] = set()
    for _ in range(200):
        container = await engine.create(cfg(cmd=["true"]))
        created.add(container.id)
        await engine.start(container.id)
        await engine.wait(container.id)
        await engine.remove(container.id)
    after = _leftovers(engine)
    # Only what these containers could have left: the machine may run others.
    assert [c for c in after["cgroups"] if c in created] == []
    assert after["mounts"] == [] and after["conmon"] == [] and after["bundles"] == []


@pytest.mark.binary("tini-static")
async def test_init_runs_as_pid_one_and_reaps(engine: Engine, busybox: str) -> None:
    container = await engine.create(
        cfg(cmd=["sh", "-c", "cat /proc/1/cmdline; echo; exit 5"], init=True)
    )
    await engine.start(container.id)
    assert await engine.wait(container.id) == 5
    lines = [r.message async for r in engine.logs(container.id)]
    assert lines[0].split(b"\0")[0] == b"/sbin/docker-init"
