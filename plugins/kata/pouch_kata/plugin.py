"""Registration of the kata VM runtime driver (not implemented yet).

The hook checks for hardware virtualisation and QEMU and reports what is
missing, but always ends in ``PluginSkip``: no runtime is registered until the
driver, its guest kernel and its agent exist.
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pouch.errors import PluginSkip
from pouch.markers import hookimpl

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Runtime

__all__ = ["host_problem", "pouch_add_runtimes", "qemu_program"]

KVM_DEVICE = Path("/dev/kvm")

# QEMU's program name and Debian package per machine type.
_QEMU = {
    "x86_64": ("qemu-system-x86_64", "qemu-system-x86"),
    "aarch64": ("qemu-system-aarch64", "qemu-system-arm"),
}


def qemu_program(machine: str | None = None) -> tuple[str, str]:
    """The QEMU program for this machine type and the Debian package that has it."""
    machine = machine or platform.machine()
    return _QEMU.get(machine, (f"qemu-system-{machine}", "qemu-system"))


def host_problem() -> str | None:
    """Say what this host lacks for the driver, or ``None`` when nothing is missing."""
    if not KVM_DEVICE.exists():
        return f"{KVM_DEVICE} missing (no hardware virtualisation on this host)"
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return f"{KVM_DEVICE} is not readable and writable by this user"
    program, package = qemu_program()
    if shutil.which(program) is None:
        return f"{program} not found on PATH; install the Debian package {package}"
    return None


@hookimpl
def pouch_add_runtimes(config: EngineConfig) -> list[Runtime]:
    problem = host_problem()
    if problem is not None:
        raise PluginSkip(f"kata: {problem}")
    raise PluginSkip("kata: not implemented yet")
