"""Resource usage read straight from the container's cgroup, v1 or v2.

The spec's ``cgroupsPath`` names the cgroup; on cgroup v1 each controller has
its own hierarchy under /sys/fs/cgroup/<controller>, on v2 one unified tree.
"""

from __future__ import annotations

import time
from pathlib import Path

from pouch.drivers import Stats

__all__ = ["read_stats"]

ROOT = Path("/sys/fs/cgroup")


def _read_int(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return 0
    return int(text) if text.isdigit() else 0


def _keyed(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return values
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[-1].isdigit():
            key = " ".join(parts[:-1])
            values[key] = values.get(key, 0) + int(parts[-1])
    return values


def _blkio_v1(path: Path) -> tuple[int, int]:
    read = write = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        parts = line.split()
        if len(parts) == 3 and parts[1] == "Read":
            read += int(parts[2])
        elif len(parts) == 3 and parts[1] == "Write":
            write += int(parts[2])
    return read, write


def read_stats(cgroup: str, version: int) -> Stats:
    relative = cgroup.strip("/")
    if version == 2:
        base = ROOT / relative
        cpu = _keyed(base / "cpu.stat").get("usage_usec", 0) * 1000
        memory_limit = _read_int(base / "memory.max")
        io = _keyed(base / "io.stat")
        read = sum(v for k, v in io.items() if k.endswith("rbytes"))
        write = sum(v for k, v in io.items() if k.endswith("wbytes"))
        return Stats(
            read_at=time.time(),
            cpu_usage_ns=cpu,
            memory_usage=_read_int(base / "memory.current"),
            memory_limit=memory_limit,
            pids=_read_int(base / "pids.current"),
            block_read=read,
            block_write=write,
        )
    read, write = _blkio_v1(ROOT / "blkio" / relative / "blkio.throttle.io_service_bytes")
    limit = _read_int(ROOT / "memory" / relative / "memory.limit_in_bytes")
    return Stats(
        read_at=time.time(),
        cpu_usage_ns=_read_int(ROOT / "cpuacct" / relative / "cpuacct.usage"),
        memory_usage=_read_int(ROOT / "memory" / relative / "memory.usage_in_bytes"),
        memory_limit=0 if limit >= 2**62 else limit,
        pids=_read_int(ROOT / "pids" / relative / "pids.current"),
        block_read=read,
        block_write=write,
    )
