"""The ``linux.resources`` section (cgroups) of the OCI runtime-spec.

Owns the structs of the cgroup limits a runtime applies on create and on
``update``: the device allow-list, memory, CPU, pids, block I/O, hugepages and
the cgroup-v2 ``unified`` map. Every limit is optional; ``None`` leaves the
runtime's default. JSON names are the spec's, verbatim (``disableOOMKiller``,
``kernelTCP``, ``blockIO``, ``pageSize``).
"""

from __future__ import annotations

import msgspec

from ._base import OCIStruct

__all__ = [
    "LinuxBlockIO",
    "LinuxCPU",
    "LinuxDeviceCgroup",
    "LinuxHugepageLimit",
    "LinuxMemory",
    "LinuxPids",
    "LinuxResources",
    "LinuxThrottleDevice",
    "LinuxWeightDevice",
]


class LinuxDeviceCgroup(OCIStruct, kw_only=True):
    """One rule of the device allow-list; ``None`` major/minor mean any (``*``).

    ``allow`` is required so that a deny rule is written out as ``false``
    instead of being omitted as a default.
    """

    allow: bool
    type: str = ""  # "a" (all, the default when empty), "c" or "b"
    major: int | None = None
    minor: int | None = None
    access: str = ""  # any of "r", "w", "m"


class LinuxMemory(OCIStruct, kw_only=True):
    """Memory limits in bytes. ``swap`` is memory *plus* swap (cgroup v1
    semantics, converted by the runtime on v2); -1 means unlimited."""

    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None  # deprecated by the spec; runtimes may ignore it
    kernel_tcp: int | None = msgspec.field(default=None, name="kernelTCP")
    swappiness: int | None = None
    disable_oom_killer: bool | None = msgspec.field(default=None, name="disableOOMKiller")
    use_hierarchy: bool | None = msgspec.field(default=None, name="useHierarchy")
    check_before_update: bool | None = msgspec.field(default=None, name="checkBeforeUpdate")


class LinuxCPU(OCIStruct, kw_only=True):
    """CPU limits: ``quota`` and ``period`` in microseconds, cpuset lists."""

    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = msgspec.field(default=None, name="realtimeRuntime")
    realtime_period: int | None = msgspec.field(default=None, name="realtimePeriod")
    cpus: str = ""
    mems: str = ""
    idle: int | None = None


class LinuxPids(OCIStruct, kw_only=True):
    """Maximum number of tasks; zero or less means no limit."""

    limit: int


class LinuxWeightDevice(OCIStruct, kw_only=True):
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = msgspec.field(default=None, name="leafWeight")


class LinuxThrottleDevice(OCIStruct, kw_only=True):
    major: int
    minor: int
    rate: int


class LinuxBlockIO(OCIStruct, kw_only=True):
    """Block I/O weight (10-1000) and per-device throttles."""

    weight: int | None = None
    leaf_weight: int | None = msgspec.field(default=None, name="leafWeight")
    weight_device: list[LinuxWeightDevice] = msgspec.field(
        default_factory=list, name="weightDevice"
    )
    throttle_read_bps_device: list[LinuxThrottleDevice] = msgspec.field(
        default_factory=list, name="throttleReadBpsDevice"
    )
    throttle_write_bps_device: list[LinuxThrottleDevice] = msgspec.field(
        default_factory=list, name="throttleWriteBpsDevice"
    )
    throttle_read_iops_device: list[LinuxThrottleDevice] = msgspec.field(
        default_factory=list, name="throttleReadIOPSDevice"
    )
    throttle_write_iops_device: list[LinuxThrottleDevice] = msgspec.field(
        default_factory=list, name="throttleWriteIOPSDevice"
    )


class LinuxHugepageLimit(OCIStruct, kw_only=True):
    """Hugetlb limit in bytes for one page size such as ``2MB``."""

    page_size: str = msgspec.field(name="pageSize")
    limit: int


class LinuxResources(OCIStruct, kw_only=True):
    """Everything the runtime writes into the container's cgroup."""

    devices: list[LinuxDeviceCgroup] = []
    memory: LinuxMemory | None = None
    cpu: LinuxCPU | None = None
    pids: LinuxPids | None = None
    block_io: LinuxBlockIO | None = msgspec.field(default=None, name="blockIO")
    hugepage_limits: list[LinuxHugepageLimit] = msgspec.field(
        default_factory=list, name="hugepageLimits"
    )
    # cgroup v2 only: file name in the cgroup directory -> value.
    unified: dict[str, str] = {}
