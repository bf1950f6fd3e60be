"""The real thing: Debian's cloud kernel and our initramfs boot in a QEMU microvm."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from pouch_kata import _accel
from pouch_kata._accel import choose_accel
from pouch_kata._agent_client import AgentClient
from pouch_kata._assets import Assets
from pouch_kata._guest_init import AGENT_PORT
from pouch_kata._kmod import GUEST_MODULES
from pouch_kata._qemu import BootError, MicroVM, VMSpec
from pouch_kata._tsc import host_tsc_khz

MakeVM = Callable[..., MicroVM]  # the conftest's make_vm fixture


def tcg(assets: Assets, **changes: object) -> VMSpec:
    fields: dict[str, object] = {
        "vmlinux": assets.vmlinux,
        "initramfs": assets.initramfs,
        "accel": "tcg",
        "tsc_khz": host_tsc_khz(),
    }
    return VMSpec(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_assets_describe_themselves(guest_assets: Assets) -> None:
    m = guest_assets.manifest
    assert guest_assets.vmlinux.read_bytes()[:4] == b"\x7fELF"
    assert any(name.startswith("linux-image-") and "cloud" in name for name in m.packages)
    assert "busybox-static" in m.packages
    assert m.kernel_release.endswith("-cloud-amd64")
    assert set(GUEST_MODULES) <= set(m.modules)


def test_boots_to_the_agent_under_tcg(guest_assets: Assets, make_vm: MakeVM) -> None:
    vm = make_vm(tcg(guest_assets, extra_cmdline=(f"pouch.agent_port={AGENT_PORT}",)))
    pid = vm.start()
    assert vm.alive()
    line, seconds = vm.wait_ready(timeout=60)
    print(f"\nmicrovm (tcg): {line!r} after {seconds:.2f} s")
    assert line.split()[1] == guest_assets.manifest.kernel_release
    assert "insmod" not in vm.console_text(), vm.console_text()

    async def ask() -> int:
        async with AgentClient.connect_unix(vm.files.agent) as client:
            with anyio.fail_after(30):
                version = await client.version()
                await client.shutdown()
        return version.pid

    # The agent is PID 1 and answers on the virtio-serial port.
    assert anyio.run(ask) == 1
    # It powers the guest off; QEMU then exits (it is -no-reboot).
    deadline = time.monotonic() + 10
    while vm.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not vm.alive(), f"QEMU {pid} still runs after the guest powered off"
    vm.stop()
    assert not vm.files.directory.exists()


def test_stop_quits_a_running_vm_and_leaves_nothing(guest_assets: Assets, make_vm: MakeVM) -> None:
    # A kernel that waits for an init that never comes keeps the VM running.
    vm = make_vm(tcg(guest_assets, extra_cmdline=("rdinit=/bin/nothing-here", "panic=0")))
    vm.start()
    assert vm.alive()
    started = time.monotonic()
    vm.stop()
    assert not vm.alive()
    assert time.monotonic() - started < 10
    assert not vm.files.directory.exists()


def test_a_guest_that_never_comes_up_is_a_clear_error(
    guest_assets: Assets, make_vm: MakeVM, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.cpio.gz"
    bad.write_bytes(b"not an archive")
    vm = make_vm(tcg(guest_assets, initramfs=bad))
    vm.start()
    with pytest.raises(BootError, match="did not reach its ready marker") as caught:
        vm.wait_ready(timeout=15)
    assert "console:" in str(caught.value)


def test_the_accelerator_probe_is_bounded_and_its_answer_boots(
    guest_assets: Assets, make_vm: MakeVM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Probed afresh: an engine of an earlier test in this process may have asked already.
    monkeypatch.setattr(_accel, "_cache", {})
    started = time.monotonic()
    accel = choose_accel(
        tmp_path / "run",
        guest=(guest_assets.vmlinux, guest_assets.initramfs),
        kernel_id=guest_assets.manifest.vmlinux_sha256,
    )
    assert time.monotonic() - started < 60  # bounded (it never hangs), not a speed target
    assert accel.name in ("kvm", "tcg"), accel
    assert (tmp_path / "run" / "kata" / "accel.json").is_file()
    vm = make_vm(tcg(guest_assets, accel=accel.name))
    vm.start()
    vm.wait_ready(timeout=60)
