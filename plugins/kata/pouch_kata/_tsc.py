"""The host's TSC frequency in kHz, for the guest's ``tsc_early_khz=``.

Under TCG the guest's own TSC calibration against the emulated PIT is slow
and sometimes never settles (a quarter of boots hang without the hint). The
sources, best first: the ``tsc_freq_khz`` sysfs file some kernels have; the
kernel's calibration line in ``/dev/kmsg``-backed dmesg is root-only and gone
after the ring wraps, so it is not used; ``cpu MHz`` from ``/proc/cpuinfo``
when the CPU says its TSC is constant (``constant_tsc`` and, better,
``tsc_known_freq``); else the nominal frequency in the model name ("@ 2.80GHz").
None when nothing says: the guest then calibrates alone.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["host_tsc_khz", "tsc_khz_from_cpuinfo"]

SYSFS = Path("/sys/devices/system/cpu/cpu0/tsc_freq_khz")
CPUINFO = Path("/proc/cpuinfo")


def tsc_khz_from_cpuinfo(text: str) -> int | None:
    """The TSC kHz that ``/proc/cpuinfo`` (its first CPU) tells, if it tells."""
    first = text.split("\n\n", 1)[0]
    fields: dict[str, str] = {}
    for line in first.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    if "tsc" not in flags:
        return None
    if "constant_tsc" in flags:
        try:
            mhz = float(fields.get("cpu MHz", ""))
        except ValueError:
            mhz = 0.0
        if mhz > 0:
            return round(mhz * 1000)
    nominal = re.search(r"@\s*([0-9.]+)\s*GHz", fields.get("model name", ""))
    if nominal:
        return round(float(nominal.group(1)) * 1_000_000)
    return None


def host_tsc_khz(sysfs: Path = SYSFS, cpuinfo: Path = CPUINFO) -> int | None:
    try:
        value = int(sysfs.read_text().strip())
        if value > 0:
            return value
    except (OSError, ValueError):
        pass
    try:
        return tsc_khz_from_cpuinfo(cpuinfo.read_text())
    except OSError:
        return None
