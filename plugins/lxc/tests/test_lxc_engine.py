"""lxc through the engine, as a user sees it: exec, stdin, failed starts, no leftovers.

What every runtime owes (limits, mounts, sysctls, surviving a killed daemon) is in
the conformance suites (test_conformance.py); these are what lxc itself must get right.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import msgspec
import pytest

from pouch import ContainerConfig
from pouch.engine import Engine
from pouch.errors import NoSuchContainer, PouchError
from pouch.testing import EngineFactory, runtime_unavailable

pytestmark = [pytest.mark.anyio, pytest.mark.root, pytest.mark.binary("lxc-start", "lxc-attach")]


@pytest.fixture
def pouch_runtime() -> str:
    return "lxc"


def cfg(**options: object) -> ContainerConfig:
    options.setdefault("image", "busybox")
    options.setdefault("runtime", "lxc")
    return msgspec.convert(options, ContainerConfig)


async def held(engine: Engine) -> set[str]:
    return {s.id for s in await engine.kernel.runtimes.get("lxc").list()}


async def test_run_rm_echo_hello(engine: Engine, busybox: str) -> None:
    """What ``pouch run --runtime lxc --rm busybox echo hello`` does through the engine."""
    with anyio.fail_after(30):
        container = await engine.create(cfg(cmd=["echo", "hello"]))
        await engine.start(container.id)
        assert await engine.wait(container.id) == 0
        assert [r.message async for r in engine.logs(container.id)] == [b"hello"]
        await engine.remove(container.id)
    with pytest.raises(NoSuchContainer):
        engine.inspect(container.id)
    assert container.id not in await held(engine)
    assert not (engine.config.run_root / "lxc" / container.id).exists()


async def test_exec_environment_and_working_dir(engine: Engine, busybox: str) -> None:
    container = await engine.create(cfg(cmd=["sleep", "60"], env=["A=container", "B=kept"]))
    await engine.start(container.id)
    code, out, _ = await engine.exec_run(
        container.id,
        ["sh", "-c", 'echo "$A $B $C"; pwd'],
        env=["A=exec", "C=new value"],
        working_dir="/tmp",
    )
    assert (code, out) == (0, b"exec kept new value\n/tmp\n")
    code, _, err = await engine.exec_run(container.id, ["true"], working_dir="/missing")
    assert code == 126 and b"missing" in err
    code, _, err = await engine.exec_run(container.id, ["no-such-command"])
    assert code == 127
    await engine.remove(container.id, force=True)


async def test_a_missing_command_fails_the_start_and_leaves_nothing(
    engine: Engine, busybox: str
) -> None:
    container = await engine.create(cfg(cmd=["no-such-command"]))
    with pytest.raises(PouchError, match="Failed to exec"):
        await engine.start(container.id)
    assert container.id not in await held(engine)
    await engine.remove(container.id, force=True)


async def test_stdin_without_a_terminal(engine: Engine, busybox: str) -> None:
    container = await engine.create(cfg(cmd=["sh", "-c", "tr a-z A-Z; exit 2"], open_stdin=True))
    with anyio.fail_after(30):
        async with engine.attach(container.id, stdin=True) as attached:
            await engine.start(container.id)
            await attached.write(b"hello\n")
            await attached.close_stdin()
        assert await engine.wait(container.id) == 2
    assert [r.message async for r in engine.logs(container.id)] == [b"HELLO"]


def _leftovers(engine: Engine, ids: list[str]) -> dict[str, list[str]]:
    """What the containers ``ids`` (or this engine's run root) still hold on the host."""
    run_root = str(engine.config.run_root)
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if run_root in line
    ]
    hierarchies = [p for p in Path("/sys/fs/cgroup").iterdir() if p.is_dir()] + [
        Path("/sys/fs/cgroup")
    ]
    cgroups = [
        str(path)
        for hierarchy in hierarchies
        for parent in ("pouch", "pouch-lxc")
        for path in (hierarchy / parent / i for i in ids)
        if path.exists()
    ]
    monitors = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if run_root.encode() in cmdline and (b"lxc-start" in cmdline or b"pouch_lxc" in cmdline):
            monitors.append(pid)
    lxcpath = engine.config.run_root / "lxc"
    dirs = [p.name for p in lxcpath.glob("*")] if lxcpath.exists() else []
    return {"mounts": mounts, "cgroups": cgroups, "monitors": monitors, "dirs": dirs}


@pytest.mark.slow
async def test_many_cycles_leave_nothing_behind(engine: Engine, busybox: str) -> None:
    ids = []
    for _ in range(50):
        container = await engine.create(cfg(cmd=["true"]))
        ids.append(container.id)
        await engine.start(container.id)
        await engine.wait(container.id)
        await engine.remove(container.id)
    assert _leftovers(engine, ids) == {"mounts": [], "cgroups": [], "monitors": [], "dirs": []}
    assert not Path("/run/lxc/lock", run_root_relative(engine)).exists()


def run_root_relative(engine: Engine) -> str:
    return str(engine.config.run_root / "lxc").lstrip("/")


async def test_a_half_made_container_is_removed_when_the_engine_starts(
    engine_factory: EngineFactory,
) -> None:
    """pouchd died in the middle of a create: the next one finds the directory and removes it."""
    leftover = engine_factory.config.run_root / "lxc" / ("e" * 64)
    (leftover / "rootfs").mkdir(parents=True)
    async with engine_factory() as engine:
        if (reason := runtime_unavailable(engine, "lxc")) is not None:
            pytest.skip(reason)
        assert not leftover.exists()
