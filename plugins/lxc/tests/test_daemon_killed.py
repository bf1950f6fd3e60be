"""The process running the engine is killed with SIGKILL: its lxc containers lose nothing.

The engine runs in a separate Python process (as pouchd would) that is killed
outright while containers run; a new engine on the same directories must find
the running container still running with its log growing, and report the real
exit code of the one that ended while no engine was there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.models import State
from pouch.testing import remove_all_containers

pytestmark = [pytest.mark.anyio, pytest.mark.root, pytest.mark.binary("lxc-start", "lxc-attach")]

SCRIPT = textwrap.dedent(
    """
    import json, sys, anyio
    from pathlib import Path
    from pouch import ContainerConfig, Engine
    from pouch.config import EngineConfig
    from pouch.testing import import_busybox

    async def main() -> None:
        config = EngineConfig(root=Path(sys.argv[1]), run_root=Path(sys.argv[2]),
                              default_runtime="lxc", default_network="none")
        async with Engine(config) as engine:
            await import_busybox(engine, Path(sys.argv[3]))
            ids = {}
            for name, cmd in (("long", "while true; do echo tick; sleep 0.2; done"),
                              ("short", "sleep 1; echo bye; exit 42"),
                              ("killed", "sleep 100")):
                c = await engine.create(ContainerConfig(image="busybox",
                                                        cmd=["sh", "-c", cmd]), name=name)
                await engine.start(c.id)
                ids[name] = c.id
            print(json.dumps(ids), flush=True)
            await anyio.sleep(3600)

    anyio.run(main)
    """
)


@pytest.fixture
def pouch_runtime() -> str:
    return "lxc"


def run_and_kill(config: EngineConfig, busybox_rootfs: Path) -> dict[str, str]:
    """Start the engine process, let it start the containers, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(config.root), str(config.run_root), str(busybox_rootfs)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ids: dict[str, str] = json.loads(proc.stdout.readline())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return ids


async def test_sigkill_of_the_engine_process_loses_nothing(
    pouch_config: EngineConfig, busybox_rootfs: Path
) -> None:
    try:
        await _check_survival(pouch_config, busybox_rootfs)
    finally:  # whatever failed, no container outlives the test
        async with Engine(pouch_config) as engine:
            await remove_all_containers(engine)
    # An orphaned monitor is reaped by the host's init, which may take a moment.
    with anyio.fail_after(15):
        while zombies := _zombies():
            await anyio.sleep(0.2)
    assert zombies == []


async def _check_survival(config: EngineConfig, busybox_rootfs: Path) -> None:
    ids = await anyio.to_thread.run_sync(run_and_kill, config, busybox_rootfs)
    # While no engine runs, "short" exits and "killed" dies by a signal.
    init = config.run_root / "lxc" / ids["killed"] / "init.pid"
    os.kill(int(init.read_text().split()[0]), signal.SIGKILL)
    await anyio.sleep(2)
    async with Engine(config) as engine:
        long, short = engine.inspect(ids["long"]), engine.inspect(ids["short"])
        assert long.state.status == State.RUNNING
        assert (short.state.status, short.state.exit_code) == (State.EXITED, 42)
        assert [r.message async for r in engine.logs(ids["short"])] == [b"bye"]
        killed = engine.inspect(ids["killed"]).state
        assert (killed.status, killed.exit_code) == (State.EXITED, 137)
        before = len([r async for r in engine.logs(ids["long"])])
        await anyio.sleep(1)
        after = len([r async for r in engine.logs(ids["long"])])
        assert after > before  # still logging, through its own monitor
        await engine.stop(ids["long"], timeout=1)
        assert engine.inspect(ids["long"]).state.status == State.EXITED


def _zombies() -> list[str]:
    return [
        pid
        for pid in filter(str.isdigit, os.listdir("/proc"))
        if _state(pid) == "Z" and _comm(pid) in ("lxc-start", "lxc-attach", "sh", "sleep")
    ]


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
