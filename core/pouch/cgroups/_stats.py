"""Resource usage and OOM kills read from a container's cgroup, on v1 or v2.

On cgroup v1 (and hybrid hosts) each controller has its own hierarchy under
``root/<controller>``; on v2 one unified tree under ``root``. ``cgroup`` is
the spec's ``cgroupsPath``, in either manager's form (see ``cgroup_dir``).
"""

from __future__ import annotations

import time
from pathlib import Path

from pouch.cgroups._files import read_int, read_keyed
from pouch.cgroups._names import cgroup_dir
from pouch.drivers import Stats

__all__ = ["ROOT", "oom_kills", "read_stats"]

ROOT = Path("/sys/fs/cgroup")
# v1 reports "no limit" as a page-rounded LONG_MAX.
_UNLIMITED = 2**62


def read_stats(cgroup: str, version: int, *, root: Path = ROOT) -> Stats:
    """One sample of the cgroup's counters; zeros for what cannot be read."""
    relative = cgroup_dir(cgroup).strip("/")
    if version == 2:
        base = root / relative
        io = read_keyed(base / "io.stat")
        return Stats(
            read_at=time.time(),
            cpu_usage_ns=read_keyed(base / "cpu.stat").get("usage_usec", 0) * 1000,
            memory_usage=read_int(base / "memory.current"),
            memory_limit=read_int(base / "memory.max"),
            pids=read_int(base / "pids.current"),
            block_read=io.get("rbytes", 0),
            block_write=io.get("wbytes", 0),
        )
    blkio = read_keyed(root / "blkio" / relative / "blkio.throttle.io_service_bytes")
    limit = read_int(root / "memory" / relative / "memory.limit_in_bytes")
    return Stats(
        read_at=time.time(),
        cpu_usage_ns=read_int(root / "cpuacct" / relative / "cpuacct.usage"),
        memory_usage=read_int(root / "memory" / relative / "memory.usage_in_bytes"),
        memory_limit=0 if limit >= _UNLIMITED else limit,
        pids=read_int(root / "pids" / relative / "pids.current"),
        block_read=sum(v for k, v in blkio.items() if k.endswith(" Read")),
        block_write=sum(v for k, v in blkio.items() if k.endswith(" Write")),
    )


def oom_kills(cgroup: str, version: int, *, root: Path = ROOT) -> int:
    """How many processes the kernel's OOM killer ended in the cgroup."""
    relative = cgroup_dir(cgroup).strip("/")
    if version == 2:
        return read_keyed(root / relative / "memory.events").get("oom_kill", 0)
    return read_keyed(root / "memory" / relative / "memory.oom_control").get("oom_kill", 0)
