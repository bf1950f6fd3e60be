"""cgroup limits: the spec's ``linux.resources`` as (file, value) pairs per cgroup version.

``settings`` gives the files to write for cgroup v1 (also what a hybrid host
needs: every controller lives on v1 there) or for the unified v2 hierarchy,
in an order the kernel accepts (the memory limit before memory+swap).
Runtimes write them their own way (``lxc.cgroup.*`` keys, ``lxc-cgroup``,
files); this module only decides what to write.
"""

from __future__ import annotations

from pouch.oci import LinuxDeviceCgroup, LinuxResources

__all__ = ["device_rules", "settings"]


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
    out += _cpuset_and_pids(res)
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


def _cpuset_and_pids(res: LinuxResources) -> list[tuple[str, str]]:
    """The files v1 and v2 name alike."""
    out: list[tuple[str, str]] = []
    if res.cpu is not None and res.cpu.cpus:
        out.append(("cpuset.cpus", res.cpu.cpus))
    if res.cpu is not None and res.cpu.mems:
        out.append(("cpuset.mems", res.cpu.mems))
    if res.pids is not None:
        out.append(("pids.max", str(res.pids.limit) if res.pids.limit > 0 else "max"))
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
    out += _cpuset_and_pids(res)
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
