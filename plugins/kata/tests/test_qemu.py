"""The microvm command line and the host facts it carries."""

from __future__ import annotations

import itertools
from pathlib import Path

from pouch_kata._qemu import VMFiles, VMSpec, kernel_cmdline, qemu_argv
from pouch_kata._tsc import host_tsc_khz, tsc_khz_from_cpuinfo

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor @ 2.80GHz
cpu MHz\t\t: 2793.438
flags\t\t: fpu tsc msr constant_tsc nonstop_tsc tsc_known_freq

processor\t: 1
cpu MHz\t\t: 1200.000
"""


def spec(**changes: object) -> VMSpec:
    base = {"vmlinux": Path("/a/vmlinux"), "initramfs": Path("/a/initramfs.cpio.gz")}
    return VMSpec(**{**base, **changes})  # type: ignore[arg-type]


def pairs(argv: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for flag, value in itertools.pairwise(argv):
        if flag.startswith("-"):
            found.setdefault(flag, []).append(value)
    return found


def test_the_microvm_command_line(tmp_path: Path) -> None:
    files = VMFiles(tmp_path)
    argv = qemu_argv("qemu-system-x86_64", spec(tsc_khz=2793438), files)
    args = pairs(argv)
    assert argv[0] == "qemu-system-x86_64"
    assert args["-M"] == ["microvm"]
    assert args["-accel"] == ["tcg,tb-size=32"] and args["-cpu"] == ["max"]
    assert args["-m"] == ["128M"] and args["-smp"] == ["1"]
    for flag in ("-nodefaults", "-no-reboot", "-daemonize"):
        assert flag in argv
    assert args["-kernel"] == ["/a/vmlinux"]
    assert args["-initrd"] == ["/a/initramfs.cpio.gz"]
    assert args["-global"] == ["virtio-mmio.force-legacy=false"]
    assert args["-serial"] == [f"file:{files.console}"]
    assert args["-pidfile"] == [str(files.pidfile)]
    assert args["-qmp"] == [f"unix:{files.qmp},server=on,wait=off"]
    assert f"socket,id=agent,path={files.agent},server=on,wait=off" in args["-chardev"]
    assert "virtserialport,chardev=agent,name=pouch.agent" in args["-device"]
    cmdline = args["-append"][0].split()
    for word in ("tsc_early_khz=2793438", "tsc=reliable", "no_timer_check", "panic=-1"):
        assert word in cmdline
    assert {"reboot=t", "quiet", "console=ttyS0", "cryptomgr.notests"} <= set(cmdline)


def test_kvm_uses_the_host_cpu_and_sizes_follow_the_spec(tmp_path: Path) -> None:
    args = pairs(qemu_argv("q", spec(accel="kvm", memory_mib=192, cpus=2), VMFiles(tmp_path)))
    assert args["-accel"] == ["kvm"] and args["-cpu"] == ["host"]
    assert args["-m"] == ["192M"] and args["-smp"] == ["2"]


def test_no_tsc_hint_when_the_host_does_not_tell() -> None:
    assert "tsc_early_khz" not in kernel_cmdline(spec(tsc_khz=None))


def test_tsc_from_cpuinfo() -> None:
    assert tsc_khz_from_cpuinfo(CPUINFO) == 2793438
    nominal = CPUINFO.replace("constant_tsc ", "")
    assert tsc_khz_from_cpuinfo(nominal) == 2800000
    assert tsc_khz_from_cpuinfo("flags\t: fpu\n") is None


def test_tsc_prefers_sysfs(tmp_path: Path) -> None:
    sysfs = tmp_path / "tsc_freq_khz"
    sysfs.write_text("2800123\n")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    assert host_tsc_khz(sysfs, cpuinfo) == 2800123
    assert host_tsc_khz(tmp_path / "none", cpuinfo) == 2793438
    assert host_tsc_khz(tmp_path / "none", tmp_path / "none") is None
