"""One boot of the lane's guest under QEMU: a cgroup layout, a job, its result.

The guest boots Debian's own kernel and initramfs (direct kernel boot, so the
command line picks the cgroup layout systemd sets up) on the cached disk in
QEMU's snapshot mode: writes go to a temporary file, the disk stays clean.
The 9p shares: the job directory (``lane``, mounted at ``/lane``: the job, the
output as it is written, the exit code) and the host paths the job names,
mounted at the same paths inside. The guest has no network device.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pouch.testing.kernels._guest import GUEST_SCRIPT
from pouch.testing.kernels._image import GuestDisk

__all__ = ["LAYOUTS", "BootResult", "Job", "boot", "kvm_boots"]

# What systemd 252 (Debian 12) mounts for each layout, from the kernel command line.
LAYOUTS: dict[str, str] = {
    "v1": "systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1",
    "hybrid": "systemd.unified_cgroup_hierarchy=0",
    "v2": "systemd.unified_cgroup_hierarchy=1",
}
# mitigations=off: under TCG each page-table switch of KPTI flushes QEMU's
# software TLB, which doubles the cost of every system call in the guest.
_CMDLINE = (
    "console=ttyS0 root=/dev/vda rw panic=-1 systemd.show_status=0 loglevel=4 mitigations=off"
)


@dataclass(frozen=True)
class Job:
    command: list[str]
    cwd: str
    shares: dict[str, str]  # 9p tag -> host path, mounted at the same path inside
    env: dict[str, str]


@dataclass(frozen=True)
class BootResult:
    layout: str
    exit: str  # the job's exit code, or why there is none
    facts: dict[str, str]
    seconds: float
    directory: Path  # job.json, facts.json, output.log, console.log, and the job's files


def _qemu(
    disk: GuestDisk, layout: str, directory: Path, job: Job, accel: str, memory: str, cpus: int
) -> list[str]:
    command = [
        "qemu-system-x86_64", "-name", f"pouch-lane-{layout}", "-nodefaults", "-no-user-config",
        "-machine", f"q35,accel={accel}", "-cpu", "host" if accel == "kvm" else "max",
        "-smp", str(cpus), "-m", memory, "-display", "none", "-monitor", "none",
        "-serial", f"file:{directory / 'console.log'}", "-no-reboot",
        "-kernel", str(disk.kernel), "-initrd", str(disk.initrd),
        "-append", f"{_CMDLINE} {LAYOUTS[layout]}",
        "-drive", f"file={disk.image},if=virtio,format=raw,snapshot=on,cache=unsafe",
    ]  # fmt: skip
    for tag, path in {"lane": str(directory), **job.shares}.items():
        command += [
            "-virtfs",
            f"local,path={path},mount_tag={tag},security_model=passthrough,id={tag}",
        ]
    return command


def kvm_boots(disk: GuestDisk, directory: Path, wait: float = 20.0) -> bool:
    """Whether a guest on KVM gets as far as printing its kernel banner (some hosts hang)."""
    directory.mkdir(parents=True, exist_ok=True)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    console = directory / "console.log"
    console.unlink(missing_ok=True)
    process = subprocess.Popen(
        ["qemu-system-x86_64", "-nodefaults", "-machine", "q35,accel=kvm", "-cpu", "host",
         "-m", "512", "-display", "none", "-monitor", "none", "-serial", f"file:{console}",
         "-no-reboot", "-kernel", str(disk.kernel), "-append", "console=ttyS0 panic=-1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process.poll() is None:
            if console.is_file() and b"Linux version" in console.read_bytes():
                return True
            time.sleep(0.5)
        return False
    finally:
        process.kill()
        process.wait()


def boot(
    disk: GuestDisk,
    layout: str,
    directory: Path,
    job: Job,
    *,
    accel: str = "tcg",
    memory: str = "4096",
    cpus: int = 2,
    timeout: float = 2400.0,
    progress: Callable[[str], None] = print,
) -> BootResult:
    """Boot the guest with ``layout``, run ``job`` in it, and return once it powered off."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("exit", "facts.json", "output.log", "console.log"):
        (directory / name).unlink(missing_ok=True)
    (directory / "job.json").write_text(json.dumps(job.__dict__))
    (directory / "pouch-lane.py").write_text(GUEST_SCRIPT)
    started = time.monotonic()
    qemu = subprocess.Popen(
        _qemu(disk, layout, directory, job, accel, memory, cpus),
        stdout=subprocess.DEVNULL,
        stderr=(directory / "qemu.log").open("wb"),
    )
    output = directory / "output.log"
    shown = 0
    facts_shown = False
    try:
        while qemu.poll() is None:
            if time.monotonic() - started > timeout:
                progress(f"{layout}: no power-off after {timeout:.0f} s: stopping the guest")
                break
            if not facts_shown and (directory / "facts.json").is_file():
                facts_shown = True
                progress(f"{layout}: guest up after {time.monotonic() - started:.0f} s: "
                         + (directory / "facts.json").read_text())  # fmt: skip
            if output.is_file():
                text = output.read_bytes()
                end = text.rfind(b"\n") + 1
                for line in text[shown:end].decode(errors="replace").splitlines():
                    progress(f"{layout}: {line}")
                shown = max(shown, end)
            time.sleep(1.0)
    finally:
        if qemu.poll() is None:
            qemu.terminate()
            try:
                qemu.wait(10)
            except subprocess.TimeoutExpired:
                qemu.kill()
                qemu.wait()
    exit_file = directory / "exit"
    facts_file = directory / "facts.json"
    return BootResult(
        layout=layout,
        exit=exit_file.read_text() if exit_file.is_file() else "the guest never finished the job",
        facts=json.loads(facts_file.read_text()) if facts_file.is_file() else {},
        seconds=time.monotonic() - started,
        directory=directory,
    )
