"""lxcfs through a real engine: limits seen in /proc, and lxcfs restarted under running containers.

The engine runs the runc and lxc runtimes of the installed plugins; lxcfs is
Debian's, started by the plugin. Each test leaves no lxcfs and no mount behind.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable

import anyio
import msgspec
import pytest
from pouch_isolation._host import lxcfs_mounts

from pouch import ContainerConfig
from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.testing.plugin import EngineFactory

pytestmark = [pytest.mark.anyio, pytest.mark.root, pytest.mark.binary("lxcfs")]

MIB = 1024 * 1024
# busybox's free asks sysinfo(2), which lxcfs cannot answer; procps's free
# (and most programs that size themselves) read /proc/meminfo.
FREE = "awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo"


@pytest.fixture(params=["runc", "lxc"])
def pouch_runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def cfg(**options: object) -> ContainerConfig:
    options.setdefault("image", "busybox")
    return msgspec.convert(options, ContainerConfig)


async def output(engine: Engine, container_id: str) -> list[str]:
    return [r.message.decode() async for r in engine.logs(container_id) if r.stream == "stdout"]


@pytest.fixture
def no_host_lxcfs() -> None:
    """These tests watch the lxcfs pouch starts; a host's own lxcfs.service is used instead."""
    mounted = lxcfs_mounts()
    if mounted:
        pytest.skip(f"an lxcfs is already mounted at {mounted[0]}: pouch uses it and starts none")


def lxcfs_pid(engine: Engine) -> int:
    return int((engine.config.run_root / "lxcfs" / "lxcfs.pid").read_text())


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.1)


async def test_proc_shows_the_containers_limits(engine: Engine, busybox: str) -> None:
    script = f"{FREE}; grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online"
    resources = {"memory": 256 * MIB, "cpuset_cpus": "0"}
    container = await engine.create(
        cfg(cmd=["sh", "-c", script], enable_lxcfs=True, resources=resources)
    )
    await engine.start(container.id)
    assert await engine.wait(container.id) == 0
    assert await output(engine, container.id) == ["256", "1", "0"]
    # Without it: the host's memory, every CPU.
    plain = await engine.create(cfg(cmd=["sh", "-c", FREE], resources=resources))
    await engine.start(plain.id)
    await engine.wait(plain.id)
    assert int((await output(engine, plain.id))[0]) > 256
    for c in (container, plain):
        await engine.remove(c.id)


@pytest.mark.usefixtures("no_host_lxcfs")
async def test_a_restarted_lxcfs_is_mounted_again(engine: Engine, busybox: str) -> None:
    container = await engine.create(
        cfg(cmd=["sleep", "300"], enable_lxcfs=True, resources={"memory": 128 * MIB})
    )
    await engine.start(container.id)
    first = lxcfs_pid(engine)
    os.kill(first, signal.SIGKILL)  # the lxcfs the plugin started

    async def free_works() -> bool:
        code, out, _ = await engine.exec_run(container.id, ["sh", "-c", FREE])
        return code == 0 and out.strip() == b"128"

    await until(free_works)  # the plugin started lxcfs again and mounted it again
    assert lxcfs_pid(engine) != first
    await engine.remove(container.id, force=True)


@pytest.mark.usefixtures("no_host_lxcfs")
async def test_no_lxcfs_left_once_no_container_uses_it(
    engine_factory: EngineFactory, pouch_config: EngineConfig, busybox: str
) -> None:
    async with engine_factory() as engine:
        container = await engine.create(cfg(cmd=["true"], enable_lxcfs=True))
        await engine.start(container.id)
        await engine.wait(container.id)
        pid = lxcfs_pid(engine)
        await engine.remove(container.id)
    mount = pouch_config.run_root / "lxcfs" / "mount"
    assert mount not in lxcfs_mounts()
    with pytest.raises(ProcessLookupError), anyio.fail_after(5):
        while True:
            os.kill(pid, 0)
            await anyio.sleep(0.05)
