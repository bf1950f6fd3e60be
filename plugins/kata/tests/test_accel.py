"""The accelerator choice: probed once, cached per boot, TCG whenever KVM cannot run a guest."""

from __future__ import annotations

from pathlib import Path

import pytest
from pouch_kata import _accel


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_accel, "_cache", {})


def test_no_kvm_device_means_tcg(tmp_path: Path) -> None:
    accel = _accel.choose_accel(None, device=tmp_path / "kvm")
    assert accel.name == "tcg"
    assert accel.reason == f"{tmp_path / 'kvm'} missing"


def test_a_device_that_is_not_kvm_means_tcg(tmp_path: Path) -> None:
    fake = tmp_path / "kvm"
    fake.write_text("")
    accel = _accel.choose_accel(None, device=fake)
    assert accel.name == "tcg"
    assert accel.reason.startswith(f"{fake}: ")


def test_the_answer_is_cached_in_the_run_root_per_boot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def probe(device: Path, timeout: float = 0) -> str | None:
        calls.append("ioctl")
        return None

    def boot(vmlinux: Path, initramfs: Path, program: str, timeout: float = 0) -> str | None:
        calls.append("boot")
        return "KVM: the guest did not reach its ready marker within 5 s (qemu running)"

    monkeypatch.setattr(_accel, "probe_kvm", probe)
    monkeypatch.setattr(_accel, "probe_kvm_boot", boot)
    guest = (tmp_path / "vmlinux", tmp_path / "initramfs")
    run = tmp_path / "run"
    first = _accel.choose_accel(run, guest=guest, kernel_id="k1")
    assert first.name == "tcg" and "ready marker" in first.reason
    assert calls == ["ioctl", "boot"]
    monkeypatch.setattr(_accel, "_cache", {})  # a new process
    assert _accel.choose_accel(run, guest=guest, kernel_id="k1") == first
    assert calls == ["ioctl", "boot"]
    monkeypatch.setattr(_accel, "_cache", {})
    _accel.choose_accel(run, guest=guest, kernel_id="k2")  # another kernel: probe again
    assert calls == ["ioctl", "boot"] * 2


def test_kvm_when_the_guest_boots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_accel, "probe_kvm", lambda device, timeout=0: None)
    monkeypatch.setattr(_accel, "probe_kvm_boot", lambda *a, **k: None)
    accel = _accel.choose_accel(None, guest=(tmp_path / "v", tmp_path / "i"))
    assert accel.name == "kvm"


@pytest.mark.skipif(not _accel.KVM_DEVICE.exists(), reason="no /dev/kvm on this host")
def test_the_ioctl_probe_answers_in_bounded_time() -> None:
    # Whatever the host, the probe answers (None or a reason) and never hangs.
    answer = _accel.probe_kvm(timeout=5)
    assert answer is None or answer.startswith("/dev/kvm")
