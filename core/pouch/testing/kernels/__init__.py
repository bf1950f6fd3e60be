"""The kernel lane: the conformance suites on cgroup v1, hybrid and v2 guests under QEMU.

A host has one cgroup layout, so code for the others never runs there. The
lane boots a Debian 12 guest (Debian's kernel, systemd, the runtimes, all from
Debian's archive, built once by ``mmdebstrap`` and cached) once per layout,
shares the checkout into it at its own path over 9p, runs pytest on the suites
inside and prints one table: a row per suite, a column per layout. Run it as
``python -m pouch.testing.kernels`` (or ``bash scripts/test-kernels``) from a
checkout whose virtual environment has the plugins installed.

``--layouts`` picks the layouts, trailing arguments replace the default test
paths. It runs under KVM where a guest really boots on it, else under TCG.
"""

from __future__ import annotations

from pouch.testing.kernels._image import GUEST, GuestDisk, guest_disk
from pouch.testing.kernels._report import consistent, read_junit, table
from pouch.testing.kernels._vm import LAYOUTS, BootResult, Job, boot, kvm_boots

__all__ = [
    "GUEST",
    "LAYOUTS",
    "BootResult",
    "GuestDisk",
    "Job",
    "boot",
    "consistent",
    "guest_disk",
    "kvm_boots",
    "read_junit",
    "table",
]
