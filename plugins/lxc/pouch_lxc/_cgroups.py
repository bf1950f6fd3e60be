"""cgroup limits as LXC keys, and the container's cgroup read and cleaned up directly.

``settings`` turns the spec's ``linux.resources`` into ``(file, value)`` pairs
for the host's cgroup version: ``lxc.cgroup.<file>`` on cgroup v1 (which is
also what a hybrid host — v1 controllers plus an empty cgroup2 tree at
/sys/fs/cgroup/unified — needs, since every controller lives on v1 there) and
``lxc.cgroup2.<file>`` on a unified host. ``update`` writes the same pairs
through ``lxc-cgroup``. Usage statistics, the freezer state and the removal of
leftover directories read the cgroup filesystem itself: cheap, and they work
while the lxc monitor is busy or gone.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from pouch.drivers import Stats
from pouch.oci import LinuxDeviceCgroup, LinuxResources

__all__ = ["ROOT", "device_rules", "frozen", "hierarchies", "read_stats", "remove", "settings"]

ROOT = Path("/sys/fs/cgroup")
_UNLIMITED = 2**62


def _v1(res: LinuxResources) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if (memory := res.memory) is not None:
        # The limit first: memory+swap may not be set below it.
        if memory.limit is not None:
            out.append(("memory.limit_in_bytes", str(memory.limit)))
        if memory.swap is not None:
            out.append(("memory.memsw.limit_in_bytes", str(memory.swap)))
        if memory.reservation is not None:
            out.append(("memory.soft_limit_in_bytes", str(memory.reservation)))
        if memory.swappiness is not None and 0 <= memory.swappiness <= 100:
            out.append(("memory.swappiness", str(memory.swappiness)))
        if memory.disable_oom_killer:
            out.append(("memory.oom_control", "1"))
    if (cpu := res.cpu) is not None:
        if cpu.shares:
            out.append(("cpu.shares", str(cpu.shares)))
        if cpu.period:
            out.append(("cpu.cfs_period_us", str(cpu.period)))
        if cpu.quota is not None:
            out.append(("cpu.cfs_quota_us", str(cpu.quota)))
        if cpu.cpus:
            out.append(("cpuset.cpus", cpu.cpus))
        if cpu.mems:
            out.append(("cpuset.mems", cpu.mems))
    if res.pids is not None:
        out.append(("pids.max", str(res.pids.limit) if res.pids.limit > 0 else "max"))
    if (blkio := res.block_io) is not None:
        if blkio.weight is not None:
            out.append(("blkio.weight", str(blkio.weight)))
        for name, devices in (
            ("read_bps_device", blkio.throttle_read_bps_device),
            ("write_bps_device", blkio.throttle_write_bps_device),
            ("read_iops_device", blkio.throttle_read_iops_device),
            ("write_iops_device", blkio.throttle_write_iops_device),
        ):
            out += [(f"blkio.throttle.{name}", f"{d.major}:{d.minor} {d.rate}") for d in devices]
    out += [(f"hugetlb.{h.page_size}.limit_in_bytes", str(h.limit)) for h in res.hugepage_limits]
    return out


def _v2(res: LinuxResources) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if (memory := res.memory) is not None:
        limit = memory.limit
        if limit is not None:
            out.append(("memory.max", "max" if limit < 0 else str(limit)))
        if memory.reservation is not None:
            out.append(("memory.low", str(max(memory.reservation, 0))))
        if memory.swap is not None:
            # The spec's swap is memory+swap (v1); v2 limits swap alone.
            if memory.swap < 0:
                out.append(("memory.swap.max", "max"))
            elif limit is not None and limit >= 0:
                out.append(("memory.swap.max", str(max(memory.swap - limit, 0))))
    if (cpu := res.cpu) is not None:
        if cpu.shares:
            out.append(("cpu.weight", str(1 + ((cpu.shares - 2) * 9999) // 262142)))
        if cpu.quota is not None or cpu.period:
            quota = "max" if cpu.quota is None or cpu.quota <= 0 else str(cpu.quota)
            out.append(("cpu.max", f"{quota} {cpu.period or 100_000}"))
        if cpu.cpus:
            out.append(("cpuset.cpus", cpu.cpus))
        if cpu.mems:
            out.append(("cpuset.mems", cpu.mems))
    if res.pids is not None:
        out.append(("pids.max", str(res.pids.limit) if res.pids.limit > 0 else "max"))
    if (blkio := res.block_io) is not None:
        if blkio.weight is not None:
            out.append(("io.weight", str(1 + (blkio.weight - 10) * 9999 // 990)))
        for name, devices in (
            ("rbps", blkio.throttle_read_bps_device),
            ("wbps", blkio.throttle_write_bps_device),
            ("riops", blkio.throttle_read_iops_device),
            ("wiops", blkio.throttle_write_iops_device),
        ):
            out += [("io.max", f"{d.major}:{d.minor} {name}={d.rate}") for d in devices]
    out += [(f"hugetlb.{h.page_size}.max", str(h.limit)) for h in res.hugepage_limits]
    out += sorted(res.unified.items())
    return out


def settings(resources: LinuxResources | None, version: int) -> list[tuple[str, str]]:
    """The cgroup files to write for ``resources``, in a safe order (devices apart)."""
    if resources is None:
        return []
    return _v2(resources) if version == 2 else _v1(resources)


def device_rules(rules: list[LinuxDeviceCgroup]) -> list[tuple[str, str]]:
    """``devices.allow`` / ``devices.deny`` lines, as LXC takes them on v1 and v2."""
    out = []
    for rule in rules:
        kind = rule.type or "a"
        if kind == "a":
            value = "a"
        else:
            major = "*" if rule.major is None else str(rule.major)
            minor = "*" if rule.minor is None else str(rule.minor)
            value = f"{kind} {major}:{minor} {rule.access or 'rwm'}"
        out.append(("devices.allow" if rule.allow else "devices.deny", value))
    return out


def hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (each v1 controller, and any cgroup2 tree)."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            before, _, after = line.partition(" - ")
            fields = before.split()
            if len(fields) >= 5 and after.split(" ", 1)[0] in ("cgroup", "cgroup2"):
                found.append(Path(fields[4]))
    return found


def remove(*cgroups: str) -> None:
    """rmdir the given cgroups (deepest first) in every hierarchy; what is busy stays."""
    for hierarchy in hierarchies():
        for cgroup in cgroups:
            path = hierarchy / cgroup.strip("/")
            if path != hierarchy and path.is_dir():
                for child in sorted(path.glob("**/"), key=lambda p: len(p.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        child.rmdir()


def frozen(cgroup: str, version: int) -> bool:
    """Whether the freezer holds the cgroup (frozen, or on its way)."""
    relative = cgroup.strip("/")
    try:
        if version == 2:
            return "frozen 1" in (ROOT / relative / "cgroup.events").read_text()
        return (ROOT / "freezer" / relative / "freezer.state").read_text().strip() != "THAWED"
    except OSError:
        return False


def _read_int(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def _keyed(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        parts = line.split()
        for part in parts[1:]:  # io.stat: "maj:min rbytes=1 wbytes=2 ..."
            key, eq, value = part.partition("=")
            if eq and value.isdigit():
                values[key] = values.get(key, 0) + int(value)
        if len(parts) >= 2 and parts[-1].isdigit():
            key = " ".join(parts[:-1])
            values[key] = values.get(key, 0) + int(parts[-1])
    return values


def read_stats(cgroup: str, version: int) -> Stats:
    relative = cgroup.strip("/")
    if version == 2:
        base = ROOT / relative
        io = _keyed(base / "io.stat")
        return Stats(
            read_at=time.time(),
            cpu_usage_ns=_keyed(base / "cpu.stat").get("usage_usec", 0) * 1000,
            memory_usage=_read_int(base / "memory.current"),
            memory_limit=_read_int(base / "memory.max"),
            pids=_read_int(base / "pids.current"),
            block_read=io.get("rbytes", 0),
            block_write=io.get("wbytes", 0),
        )
    blkio = _keyed(ROOT / "blkio" / relative / "blkio.throttle.io_service_bytes")
    limit = _read_int(ROOT / "memory" / relative / "memory.limit_in_bytes")
    return Stats(
        read_at=time.time(),
        cpu_usage_ns=_read_int(ROOT / "cpuacct" / relative / "cpuacct.usage"),
        memory_usage=_read_int(ROOT / "memory" / relative / "memory.usage_in_bytes"),
        memory_limit=0 if limit >= _UNLIMITED else limit,
        pids=_read_int(ROOT / "pids" / relative / "pids.current"),
        block_read=sum(v for k, v in blkio.items() if k.endswith(" Read")),
        block_write=sum(v for k, v in blkio.items() if k.endswith(" Write")),
    )
