"""Registration of the kata VM runtime driver and of the service holding its agents.

The hook checks what a VM needs: QEMU, virtiofsd, the guest assets built by
``pouch-kata assets build`` (with the agent in them), and an accelerator (KVM
when ``/dev/kvm`` really boots a guest, else TCG). What is missing ends in
``PluginSkip`` saying what to install or run.
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
from ._guest import state_root
from ._guest_init import AGENT_PORT
from ._hub import Hub
from ._qemu import SHARE_TAG, VMSpec
from ._tsc import host_tsc_khz
from ._virtiofsd import VIRTIOFSD
from .runtime import KataRuntime

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Runtime, Service

__all__ = ["host_problem", "pouch_add_runtimes", "pouch_add_services", "qemu_program"]

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


def _assets_directory(config: EngineConfig, settings: dict[str, object]) -> Path:
    """The setting; else the state root's; else, when that has none, the machine's
    (a pouchd on a root of its own uses what ``pouch-kata assets build`` made)."""
    if "assets" in settings:
        return Path(str(settings["assets"]))
    own = assets_dir(config.root)
    machine = assets_dir(DEFAULT_ROOT)
    if not own.exists() and (machine / "manifest.json").exists():
        return machine
    return own


@hookimpl
def pouch_add_runtimes(config: EngineConfig) -> list[Runtime]:
    problem = host_problem()
    if problem is not None:
        raise PluginSkip(f"kata: {problem}")
    settings = config.plugin_settings("kata")
    directory = _assets_directory(config, settings)
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
    if not assets.manifest.agent_sha256:
        raise PluginSkip(
            f"kata: the guest assets in {directory} have no agent; "
            f"run: {_build_command(config.root)} --force"
        )
    if not VIRTIOFSD.exists():
        raise PluginSkip(
            f"kata: {VIRTIOFSD} not found; install the Debian package qemu-system-common"
        )
    spec = VMSpec(
        vmlinux=assets.vmlinux,
        initramfs=assets.initramfs,
        accel=accel,
        tsc_khz=host_tsc_khz(),
        extra_cmdline=(f"pouch.agent_port={AGENT_PORT}", f"pouch.share={SHARE_TAG}"),
        share_socket=Path("fs.sock"),
    )
    details = {
        "accelerator": accel,
        "kernel": assets.manifest.kernel_release,
        "assets": str(directory),
        "agent": assets.manifest.agent_sha256[:12],
    }
    hub = _hubs[id(config)] = Hub()
    runtime = KataRuntime(
        hub=hub,
        root=state_root(config.run_root),
        spec=spec,
        program=qemu_program()[0],
        details=details,
    )
    return [runtime]


# The hub made with an engine's runtime, until that engine asks for its services.
_hubs: dict[int, Hub] = {}


@hookimpl
def pouch_add_services(config: EngineConfig) -> list[Service]:
    hub = _hubs.pop(id(config), None)
    return [hub] if hub is not None else []
