"""Block-I/O accounting on cgroup v1, where the kernel keeps it only for throttled disks.

On cgroup v1 with multi-queue block devices the kernel counts a cgroup's
bytes in ``blkio.throttle.io_service_bytes`` only on a disk that has a
throttle rule for it; with none, ``pouch stats`` would show 0 B of block I/O
whatever the container wrote. ``with_v1_accounting`` adds a read and a write
rule far above any disk's speed for every disk of the host, which turns the
counters on and never delays a request. cgroup v2 counts without rules.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec

from pouch.oci import LinuxBlockIO, LinuxResources, LinuxThrottleDevice

__all__ = ["UNBOUNDED_RATE", "disks", "with_v1_accounting"]

# 4 EiB/s: a rule, so the kernel counts, that no disk ever reaches. (The
# kernel takes 2**64-1 as "no rule" and would stop counting.)
UNBOUNDED_RATE = 2**62


def disks(sys_block: Path = Path("/sys/block")) -> list[tuple[int, int]]:
    """(major, minor) of each whole disk with a size, as the blkio rules name them."""
    found = []
    with contextlib.suppress(OSError):
        for disk in sorted(sys_block.iterdir()):
            with contextlib.suppress(OSError, ValueError):
                if int((disk / "size").read_text()) > 0:
                    major, minor = (disk / "dev").read_text().strip().split(":")
                    found.append((int(major), int(minor)))
    return found


def with_v1_accounting(
    resources: LinuxResources | None, on: list[tuple[int, int]]
) -> LinuxResources:
    """``resources`` with an unbounded read and write rule for each disk in ``on``
    that has no rule of its own."""
    resources = resources or LinuxResources()
    blkio = resources.block_io or LinuxBlockIO()
    reads = list(blkio.throttle_read_bps_device)
    writes = list(blkio.throttle_write_bps_device)
    for rules in (reads, writes):
        ruled = {(rule.major, rule.minor) for rule in rules}
        rules += [
            LinuxThrottleDevice(major=major, minor=minor, rate=UNBOUNDED_RATE)
            for major, minor in on
            if (major, minor) not in ruled
        ]
    blkio = msgspec.structs.replace(
        blkio, throttle_read_bps_device=reads, throttle_write_bps_device=writes
    )
    return msgspec.structs.replace(resources, block_io=blkio)
