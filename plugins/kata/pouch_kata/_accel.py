"""Which accelerator QEMU gets: KVM when ``/dev/kvm`` can really run a guest, else TCG.

A ``/dev/kvm`` that opens is not enough. The probe has two steps: a
one-instruction guest (``hlt`` in real mode) run through the KVM ioctls in a
child process killed after a bounded time, which catches a missing or broken
KVM cheaply; then, because some nested hosts pass that and still spin forever
in ``KVM_RUN`` once a real kernel boots (this kind of machine does), a boot of
the guest assets themselves under KVM, stopped after a few seconds. Only a
guest that reaches its ready marker makes the answer KVM. The answer is cached
per process and in a file under the run root, keyed by the host's boot id and
the kernel, so a host is probed once per boot.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import msgspec

from ._qemu import BootError, MicroVM, VMSpec

__all__ = ["Accel", "choose_accel", "probe_kvm", "probe_kvm_boot"]

KVM_DEVICE = Path("/dev/kvm")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
PROBE_TIMEOUT = 3.0
# A KVM guest reaches the marker well under a second; TCG needs about three.
BOOT_PROBE_TIMEOUT = 5.0

# ioctl numbers from <linux/kvm.h> (x86_64).
_KVM_GET_API_VERSION = 0xAE00
_KVM_CREATE_VM = 0xAE01
_KVM_GET_VCPU_MMAP_SIZE = 0xAE04
_KVM_CREATE_VCPU = 0xAE41
_KVM_SET_USER_MEMORY_REGION = 0x4020AE46
_KVM_SET_REGS = 0x4090AE82
_KVM_GET_SREGS = 0x8138AE83
_KVM_SET_SREGS = 0x4138AE84
_KVM_RUN = 0xAE80
_KVM_EXIT_HLT = 5


class Accel(msgspec.Struct, kw_only=True, frozen=True):
    name: str  # "kvm" or "tcg"
    reason: str
    # The host's boot id and the kernel probed with: the cache is good for these only.
    stamp: str = ""


_cache: dict[str, Accel] = {}


def _hlt_guest(device: str) -> str:
    """Run ``hlt`` in a fresh VM; "ok" or what went wrong. Runs in the probe child."""
    import ctypes
    import fcntl
    import mmap
    import os
    import struct

    kvm = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    version = fcntl.ioctl(kvm, _KVM_GET_API_VERSION, 0)
    if version != 12:
        return f"KVM API version {version}, not 12"
    vm = fcntl.ioctl(kvm, _KVM_CREATE_VM, 0)
    memory = mmap.mmap(-1, 0x1000)
    memory[0] = 0xF4  # hlt
    address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
    region = struct.pack("<IIQQQ", 0, 0, 0x1000, 0x1000, address)
    fcntl.ioctl(vm, _KVM_SET_USER_MEMORY_REGION, region)
    vcpu = fcntl.ioctl(vm, _KVM_CREATE_VCPU, 0)
    size = fcntl.ioctl(kvm, _KVM_GET_VCPU_MMAP_SIZE, 0)
    run = mmap.mmap(vcpu, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    sregs = bytearray(312)
    fcntl.ioctl(vcpu, _KVM_GET_SREGS, sregs, True)
    struct.pack_into("<Q", sregs, 0, 0)  # cs.base
    struct.pack_into("<H", sregs, 12, 0)  # cs.selector
    fcntl.ioctl(vcpu, _KVM_SET_SREGS, bytes(sregs))
    regs = bytearray(144)
    struct.pack_into("<QQ", regs, 128, 0x1000, 0x2)  # rip, rflags
    fcntl.ioctl(vcpu, _KVM_SET_REGS, bytes(regs))
    fcntl.ioctl(vcpu, _KVM_RUN, 0)
    (reason,) = struct.unpack_from("<I", run, 8)
    return "ok" if reason == _KVM_EXIT_HLT else f"KVM_RUN exited with reason {reason}, not hlt"


def probe_kvm(device: Path = KVM_DEVICE, timeout: float = PROBE_TIMEOUT) -> str | None:
    """``None`` when ``device`` runs a guest; else why it cannot."""
    if not device.exists():
        return f"{device} missing"
    code = f"from pouch_kata._accel import _hlt_guest; print(_hlt_guest({str(device)!r}))"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        # subprocess.run has killed the child (by its own PID) before raising.
        return f"{device}: a test guest did not halt within {timeout:g} s"
    out = done.stdout.strip()
    if done.returncode == 0 and out == "ok":
        return None
    err = done.stderr.strip().splitlines()
    return f"{device}: {out or (err[-1] if err else f'probe exited {done.returncode}')}"


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def probe_kvm_boot(
    vmlinux: Path, initramfs: Path, program: str, timeout: float = BOOT_PROBE_TIMEOUT
) -> str | None:
    """``None`` when the guest boots to its marker under KVM; else why not."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pouch-kata-probe.") as tmp:
        spec = VMSpec(vmlinux=vmlinux, initramfs=initramfs, accel="kvm")
        vm = MicroVM(spec, Path(tmp) / "vm", program=program)
        try:
            vm.start(timeout=timeout)
            vm.wait_ready(timeout=timeout)
        except BootError as why:
            first = str(why).splitlines()[0]
            return f"KVM: {first}"
        finally:
            vm.stop(timeout=2.0)
    return None


def choose_accel(
    run_root: Path | None = None,
    *,
    device: Path = KVM_DEVICE,
    guest: tuple[Path, Path] | None = None,
    program: str = "qemu-system-x86_64",
    kernel_id: str = "",
) -> Accel:
    """KVM or TCG for this host, probed once per process and per boot.

    ``guest`` is the (vmlinux, initramfs) to boot for the second step; without
    it only the ioctl step runs and its answer is not cached in the file.
    """
    key = f"{device}|{kernel_id}|{guest is not None}"
    if key in _cache:
        return _cache[key]
    boot_id = _boot_id()
    stamp = f"{boot_id}|{kernel_id}"
    # The run root's answer, else the one beside the guest assets (shared by
    # every pouchd of this boot, whatever its run root).
    cache_files = (
        [run_root / "kata" / "accel.json", guest[0].parent / "accel.json"]
        if run_root is not None and guest
        else []
    )
    for cache_file in cache_files:
        with contextlib.suppress(OSError, msgspec.DecodeError):
            cached = msgspec.json.decode(cache_file.read_bytes(), type=Accel)
            if boot_id and cached.stamp == stamp:
                _cache[key] = cached
                _remember(cached, cache_files)
                return cached
    problem = probe_kvm(device)
    if problem is None and guest is not None:
        problem = probe_kvm_boot(guest[0], guest[1], program)
    if problem is None:
        accel = Accel(name="kvm", reason=f"{device} runs guests", stamp=stamp)
    else:
        accel = Accel(name="tcg", reason=problem, stamp=stamp)
    _cache[key] = accel
    _remember(accel, cache_files)
    return accel


def _remember(accel: Accel, cache_files: list[Path]) -> None:
    for cache_file in cache_files:
        with contextlib.suppress(OSError):
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(msgspec.json.encode(accel))
            tmp.replace(cache_file)
