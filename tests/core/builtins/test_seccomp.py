"""The default seccomp profile compiled for a container: what each capability opens."""

from __future__ import annotations

import pytest

from pouch import oci
from pouch.builtins.seccomp import compile_profile, default_profile, parse_profile
from pouch.oci.capabilities import DEFAULT_CAPABILITIES

DEFAULT = {f"CAP_{name}" for name in DEFAULT_CAPABILITIES}


def allowed(seccomp: oci.LinuxSeccomp) -> set[str]:
    """Syscalls allowed whatever their arguments."""
    return {
        name
        for rule in seccomp.syscalls
        if rule.action == "SCMP_ACT_ALLOW" and not rule.args
        for name in rule.names
    }


def test_the_default_profile_refuses_what_reaches_past_the_container() -> None:
    seccomp = compile_profile(default_profile(), DEFAULT, machine="x86_64", release="6.1.0")
    assert seccomp.default_action == "SCMP_ACT_ERRNO" and seccomp.default_errno_ret == 1
    assert seccomp.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = allowed(seccomp)
    assert {"read", "execve", "clone3", "arch_prctl", "ptrace", "chroot"} - names == {"clone3"}
    refused = {"mount", "unshare", "setns", "keyctl", "add_key", "kexec_load", "bpf", "reboot"}
    assert not refused & names
    clone = [r for r in seccomp.syscalls if r.names == ["clone"]]
    assert clone and clone[0].args[0].op == "SCMP_CMP_MASKED_EQ"  # no new namespaces
    clone3 = [r for r in seccomp.syscalls if r.names == ["clone3"]]
    assert clone3[0].action == "SCMP_ACT_ERRNO" and clone3[0].errno_ret == 38


def test_capabilities_open_their_syscalls() -> None:
    caps = DEFAULT | {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}
    seccomp = compile_profile(default_profile(), caps, machine="x86_64", release="6.1.0")
    names = allowed(seccomp)
    assert {"mount", "umount2", "unshare", "setns", "clone", "clone3", "process_vm_readv"} <= names
    assert not [r for r in seccomp.syscalls if r.names == ["clone"] and r.args]


def test_old_kernels_and_other_architectures() -> None:
    caps = DEFAULT
    old = compile_profile(default_profile(), caps, machine="x86_64", release="4.4.0-generic")
    assert "ptrace" not in allowed(old)
    arm = compile_profile(default_profile(), caps, machine="aarch64", release="6.1.0")
    assert arm.architectures == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arch_prctl" not in allowed(arm)


def test_a_broken_profile_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="defaultAction"):
        parse_profile("{}")
    with pytest.raises(ValueError, match="not a seccomp profile"):
        parse_profile("[1")
