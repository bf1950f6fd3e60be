"""Conformance tests of resources and mounts: update, stats, binds, tmpfs, sysctls, privileged.

Each test names the capabilities it needs and skips, saying which is missing.
What is checked is what a user sees from inside the container: the cgroup
files its limits land in, the files a mount shows, the sysctl values.

Bound into ``RuntimeConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import anyio
import msgspec
import pytest

from pouch import cgroups
from pouch.drivers import Capability
from pouch.engine import Engine
from pouch.models import Mount, Resources
from pouch.testing._suite import LONG, SuiteBase
from pouch.testing.plugin import import_busybox

# Doubles a string until the memory limit stops it: 64 MiB in some 26 steps.
_HOG = ["awk", 'BEGIN { s = "x"; while (1) s = s s }']

__all__: list[str] = []

# Both cgroup layouts: v1 per-controller hierarchies, v2 one unified one.
_PIDS_MAX = "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"
# On v1 a host that mounts cpu and cpuacct together names the hierarchy
# "cpu,cpuacct"; runc adds a "cpu" symlink in the container, LXC does not.
_CPU_QUOTA = (
    "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null"
    " || cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us 2>/dev/null"
    " || cut -d' ' -f1 /sys/fs/cgroup/cpu.max"
)


async def test_update_and_stats_on_a_running_container(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, Capability.UPDATE, Capability.STATS, Capability.RESOURCES, Capability.EXEC)
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, LONG, resources=Resources(memory=64 << 20))
        stats = await engine.stats(container.id)
        assert stats.memory_limit == 64 << 20
        assert stats.pids >= 1 and stats.memory_usage > 0, stats
        await engine.update(container.id, Resources(memory=96 << 20, pids_limit=20, cpus=0.5))
        assert (await engine.stats(container.id)).memory_limit == 96 << 20
        code, out, err = await engine.exec_run(
            container.id, ["sh", "-c", f"{_PIDS_MAX}; {_CPU_QUOTA}"]
        )
        if code != 0:
            _, listing, _ = await engine.exec_run(container.id, ["ls", "-l", "/sys/fs/cgroup"])
            pytest.fail(f"{err.decode(errors='replace')}/sys/fs/cgroup:\n{listing.decode()}")
        # 0.5 CPUs: half of the default 100ms period.
        assert out.split() == [b"20", b"50000"]
        await engine.remove(container.id, force=True)


async def test_mounts_tmpfs_sysctls_and_privileged(
    self: SuiteBase, engine: Engine, busybox: str, tmp_path: Path
) -> None:
    self.require(engine, Capability.NAMESPACES)
    shared = tmp_path / "shared dir"  # a space in both paths: quoting is the runtime's job
    shared.mkdir()
    (shared / "in").write_text("from the host\n")
    script = (
        "cat '/data dir/in'; echo out > '/data dir/out'; mount | grep -c ' /scratch type tmpfs';"
        " cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/shmmni;"
        " ip link set lo mtu 1500 2>/dev/null && echo admin"
    )
    with anyio.fail_after(self.timeout):
        container = await self.run(
            engine,
            busybox,
            ["sh", "-c", script],
            mounts=[Mount(type="bind", source=str(shared), target="/data dir")],
            tmpfs={"/scratch": "size=1m"},
            # Both namespaced: the network's and the IPC namespace's.
            sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"},
            privileged=True,
        )
        assert await engine.wait(container.id) == 0, await self.logs(engine, container.id)
        assert await self.output(engine, container.id) == [
            "from the host",
            "1",
            "1",
            "1234",
            "admin",
        ]
    assert (shared / "out").read_text() == "out\n"
    assert Path("/proc/sys/kernel/shmmni").read_text().strip() != "1234"  # not the host's


async def test_an_oom_kill_is_recorded(self: SuiteBase, engine: Engine, busybox: str) -> None:
    self.require(engine, Capability.RESOURCES, Capability.OOM_KILLED)
    limit = Resources(memory=64 << 20, memory_swap=64 << 20)
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, _HOG, resources=limit)
        code = await engine.wait(container.id)
    state = engine.inspect(container.id).state
    assert (code, state.oom_killed) == (137, True), state


async def test_stats_count_the_block_io_of_a_write(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, Capability.STATS, Capability.BLOCK_STATS, Capability.EXEC)
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, LONG)
        before = await engine.stats(container.id)
        # O_DIRECT: cgroup v1 charges only I/O that bypasses the page cache.
        dd = ["dd", "if=/dev/zero", "of=/written", "bs=1M", "count=8", "oflag=direct"]
        code, _, err = await engine.exec_run(container.id, dd)
        assert code == 0, err
        after = await engine.stats(container.id)
        await engine.remove(container.id, force=True)
    assert after.block_write - before.block_write >= 8 << 20, (before, after)


async def test_the_systemd_cgroup_manager_makes_a_scope(
    self: SuiteBase, engine: Engine, busybox_rootfs: Path
) -> None:
    self.require(engine, Capability.SYSTEMD_CGROUP, Capability.STATS, Capability.RESOURCES)
    if not cgroups.systemd_booted() or shutil.which("systemctl") is None:
        pytest.skip("systemd is not this host's init")
    work = Path(tempfile.mkdtemp(prefix="pouch-systemd-", dir="/tmp"))
    config = msgspec.structs.replace(
        engine.config, root=work / "root", run_root=work / "run", cgroup_manager="systemd"
    )
    try:
        with anyio.fail_after(self.timeout * 2):
            async with Engine(config) as managed:
                await import_busybox(managed, busybox_rootfs)
                await _check_scope(self, managed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _check_scope(self: SuiteBase, engine: Engine) -> None:
    limit = Resources(memory=64 << 20)
    container = await self.run(engine, "busybox", LONG, resources=limit)
    unit = f"pouch-{container.id}.scope"
    try:
        pid = container.state.pid
        shown = await anyio.run_process(["systemctl", "status", "--no-pager", unit], check=False)
        status = shown.stdout.decode()
        assert "Active: active (running)" in status and f"{pid} " in status, status
        assert f"/system.slice/{unit}" in Path(f"/proc/{pid}/cgroup").read_text()
        assert (await engine.stats(container.id)).memory_limit == 64 << 20
    finally:
        await engine.remove(container.id, force=True)
    active = await anyio.run_process(["systemctl", "is-active", unit], check=False)
    state = active.stdout.decode().strip()
    assert state in ("inactive", ""), f"{unit} is still {state} after the container's removal"
