"""The shared cgroup readers on recorded trees of each layout: v1, hybrid, v2."""

from __future__ import annotations

from pathlib import Path

import pytest

from pouch import cgroups
from pouch.oci import (
    LinuxBlockIO,
    LinuxCPU,
    LinuxMemory,
    LinuxPids,
    LinuxResources,
    LinuxThrottleDevice,
)

CGROUP = "/pouch/abc"

# Recorded from kernels' cgroup files (values shortened, formats verbatim).
V2_FILES = {
    "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n",
    "memory.current": "4194304\n",
    "memory.max": "104857600\n",
    "pids.current": "3\n",
    "io.stat": (
        "8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n"
        "8:16 rbytes=800 wbytes=200 rios=1 wios=1 dbytes=0 dios=0\n"
    ),
    "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n",
    "cgroup.events": "populated 1\nfrozen 1\n",
}
V1_FILES = {
    "cpuacct/pouch/abc/cpuacct.usage": "1500000\n",
    "memory/pouch/abc/memory.usage_in_bytes": "4194304\n",
    "memory/pouch/abc/memory.limit_in_bytes": "9223372036854771712\n",
    "memory/pouch/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    "pids/pouch/abc/pids.current": "3\n",
    "blkio/pouch/abc/blkio.throttle.io_service_bytes": (
        "8:0 Read 1459200\n8:0 Write 4096\n8:0 Sync 0\n8:0 Async 1463296\n"
        "8:0 Discard 0\n8:0 Total 1463296\n8:16 Read 800\n8:16 Write 200\nTotal 1464296\n"
    ),
    "freezer/pouch/abc/freezer.state": "FROZEN\n",
}
MOUNTINFO = {
    "v1": (
        "25 1 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
        "28 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    ),
    "hybrid": (
        "25 1 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
        "26 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "28 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    ),
    "v2": "25 1 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
}


def tree(root: Path, files: dict[str, str], prefix: str = "") -> Path:
    for name, text in files.items():
        path = root / prefix / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_v2_stats_read_every_counter_including_block_io(tmp_path: Path) -> None:
    root = tree(tmp_path, V2_FILES, CGROUP.strip("/"))
    stats = cgroups.read_stats(CGROUP, 2, root=root)
    assert stats.cpu_usage_ns == 1_500_000
    assert (stats.memory_usage, stats.memory_limit, stats.pids) == (4194304, 104857600, 3)
    # io.stat's key=value lines, summed over devices: never 0 when bytes moved.
    assert (stats.block_read, stats.block_write) == (1459200 + 800, 314773504 + 200)
    assert cgroups.oom_kills(CGROUP, 2, root=root) == 1
    assert cgroups.frozen(CGROUP, 2, root=root)


def test_v1_stats_read_every_counter(tmp_path: Path) -> None:
    root = tree(tmp_path, V1_FILES)
    stats = cgroups.read_stats(CGROUP, 1, root=root)
    assert stats.cpu_usage_ns == 1_500_000
    assert (stats.memory_usage, stats.memory_limit, stats.pids) == (4194304, 0, 3)
    assert (stats.block_read, stats.block_write) == (1459200 + 800, 4096 + 200)
    assert cgroups.oom_kills(CGROUP, 1, root=root) == 2
    assert cgroups.frozen(CGROUP, 1, root=root)


def test_a_vanished_cgroup_reads_as_zeros(tmp_path: Path) -> None:
    for version in (1, 2):
        stats = cgroups.read_stats("/gone", version, root=tmp_path)
        assert (stats.cpu_usage_ns, stats.memory_usage, stats.block_read) == (0, 0, 0)
        assert not cgroups.frozen("/gone", version, root=tmp_path)


@pytest.mark.parametrize(("kind", "version"), [("v1", 1), ("hybrid", 1), ("v2", 2)])
def test_layouts_are_told_apart(tmp_path: Path, kind: str, version: int) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(MOUNTINFO[kind])
    assert cgroups.layout(mountinfo) == kind
    assert cgroups.version(mountinfo) == version
    assert Path("/sys/fs/cgroup/memory" if kind != "v2" else "/sys/fs/cgroup") in (
        cgroups.hierarchies(mountinfo)
    )


def test_limits_per_version() -> None:
    resources = LinuxResources(
        memory=LinuxMemory(limit=100 << 20, swap=200 << 20),
        cpu=LinuxCPU(shares=512, quota=50000, period=100000),
        pids=LinuxPids(limit=64),
    )
    v1 = dict(cgroups.settings(resources, 1))
    assert v1["memory.limit_in_bytes"] == str(100 << 20)
    assert v1["memory.memsw.limit_in_bytes"] == str(200 << 20)
    assert (v1["cpu.cfs_quota_us"], v1["pids.max"]) == ("50000", "64")
    v2 = dict(cgroups.settings(resources, 2))
    assert v2["memory.max"] == str(100 << 20)
    assert v2["memory.swap.max"] == str(100 << 20)  # v2 limits swap alone
    assert (v2["cpu.max"], v2["pids.max"]) == ("50000 100000", "64")
    keys = [k for k, _ in cgroups.settings(resources, 1)]
    assert keys.index("memory.limit_in_bytes") < keys.index("memory.memsw.limit_in_bytes")


@pytest.mark.parametrize(
    ("path", "directory"),
    [
        ("/pouch/abc", "/pouch/abc"),
        ("pouch/abc/", "/pouch/abc"),
        ("system.slice:pouch:abc", "/system.slice/pouch-abc.scope"),
        ("machine-pouch.slice:pouch:abc", "/machine.slice/machine-pouch.slice/pouch-abc.scope"),
        (":pouch:abc", "/system.slice/pouch-abc.scope"),
        ("-.slice:pouch:abc", "/pouch-abc.scope"),
    ],
)
def test_a_cgroups_path_of_either_manager_names_its_directory(path: str, directory: str) -> None:
    assert cgroups.cgroup_dir(path) == directory


def test_readers_follow_a_systemd_scope(tmp_path: Path) -> None:
    root = tree(tmp_path, V2_FILES, "system.slice/pouch-abc.scope")
    stats = cgroups.read_stats("system.slice:pouch:abc", 2, root=root)
    assert (stats.memory_usage, stats.pids) == (4194304, 3)
    assert cgroups.oom_kills("system.slice:pouch:abc", 2, root=root) == 1
    assert cgroups.cgroups_path("abc", "systemd") == "system.slice:pouch:abc"
    assert cgroups.cgroups_path("abc", "cgroupfs") == "/pouch/abc"


def test_v1_accounting_rules_cover_every_disk_and_keep_the_users(tmp_path: Path) -> None:
    for name, dev, size in (("vda", "254:0", "100"), ("loop0", "7:0", "0"), ("sdb", "8:16", "9")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dev").write_text(dev + "\n")
        (tmp_path / name / "size").write_text(size + "\n")
    assert cgroups.disks(tmp_path) == [(8, 16), (254, 0)]  # an empty loop device has no I/O
    own = LinuxBlockIO(throttle_write_bps_device=[LinuxThrottleDevice(major=8, minor=16, rate=1)])
    resources = cgroups.with_v1_accounting(LinuxResources(block_io=own), [(8, 16), (254, 0)])
    assert resources.block_io is not None
    writes = {(d.major, d.minor): d.rate for d in resources.block_io.throttle_write_bps_device}
    reads = {(d.major, d.minor): d.rate for d in resources.block_io.throttle_read_bps_device}
    assert writes == {(8, 16): 1, (254, 0): 2**62}  # the user's own limit stays
    assert reads == {(8, 16): 2**62, (254, 0): 2**62}
    assert ("blkio.throttle.read_bps_device", "254:0 4611686018427387904") in (
        cgroups.settings(resources, 1)
    )
