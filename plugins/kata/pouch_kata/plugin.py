"""Registration of the kata VM runtime driver (the driver is not written yet).

The hook checks what a VM needs: QEMU, the guest assets built by
``pouch-kata assets build``, and an accelerator (KVM when ``/dev/kvm`` really
boots a guest, else TCG). It always ends in ``PluginSkip``, with the first
thing missing or, when nothing is, with the assets and accelerator it found:
no runtime is registered until the driver and its guest agent exist.
"""

from __future__ import annotations

import platform
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pouch.errors import PluginSkip
from pouch.markers import hookimpl

from ._accel import choose_accel
from ._assets import DEFAULT_ROOT, AssetError, assets_dir, load_assets

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Runtime

__all__ = ["host_problem", "pouch_add_runtimes", "qemu_program"]

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
    """Say what this host lacks for running VMs, or ``None`` when nothing is missing."""
    program, package = qemu_program()
    if shutil.which(program) is None:
        return f"{program} not found on PATH; install the Debian package {package}"
    return None


def _build_command(root: Path) -> str:
    command = "pouch-kata assets build"
    return command if root == DEFAULT_ROOT else f"{command} --root {root}"


@hookimpl
def pouch_add_runtimes(config: EngineConfig) -> list[Runtime]:
    problem = host_problem()
    if problem is not None:
        raise PluginSkip(f"kata: {problem}")
    settings = config.plugin_settings("kata")
    directory = Path(settings.get("assets", assets_dir(config.root)))
    try:
        assets = load_assets(directory)
    except AssetError as why:
        raise PluginSkip(f"kata: {why}; run: {_build_command(config.root)}") from None
    forced = settings.get("accel")
    if forced in ("kvm", "tcg"):
        accel = str(forced)
    else:
        accel = choose_accel(
            config.run_root,
            guest=(assets.vmlinux, assets.initramfs),
            program=qemu_program()[0],
            kernel_id=assets.manifest.vmlinux_sha256,
        ).name
    raise PluginSkip(
        "kata: the runtime driver is not implemented yet (guest assets ready: "
        f"kernel {assets.manifest.kernel_release}, accelerator {accel})"
    )
