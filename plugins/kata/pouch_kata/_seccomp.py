"""The spec's ``linux.seccomp`` compiled to a classic BPF program for the guest agent.

The host compiles with libseccomp (Debian's ``libseccomp2``, which runc needs
too), as runc does: the architectures the profile names, one rule per
syscall name this libseccomp knows (unknown names are skipped, as runc skips
them), several rules when conditions name one argument twice (libseccomp
takes each argument once per rule). The agent installs the program with
``prctl(PR_SET_SECCOMP)`` just before ``execve``; the guest has the host's
architecture, so one program serves both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

from pouch.errors import InvalidArgument, PouchError
from pouch.oci import LinuxSeccomp, LinuxSeccompArg

__all__ = ["compile_bpf"]

_FIELD = "HostConfig.SecurityOpt"
_EPERM = 1

_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_WITH_VALUE = {"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"}
_COMPARE = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


@functools.cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as error:
        raise PouchError(
            f"kata: compiling the seccomp profile needs libseccomp ({error}): "
            "apt-get install libseccomp2"
        ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _action(name: str, errno_ret: int | None) -> int:
    base = _ACTIONS.get(name)
    if base is None:
        raise InvalidArgument(
            f"the kata runtime cannot apply the seccomp action {name}", field=_FIELD
        )
    if name in _WITH_VALUE:
        return base | ((_EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    return base


def _conditions(args: list[LinuxSeccompArg]) -> list[list[LinuxSeccompArg]]:
    """The rules one syscall entry makes: all conditions in one, or one each."""
    if not args:
        return [[]]
    if len({a.index for a in args}) == len(args):
        return [args]
    return [[a] for a in args]


def _rule(lib: ctypes.CDLL, ctx: int, action: int, nr: int, args: list[LinuxSeccompArg]) -> None:
    array = (_ArgCmp * max(1, len(args)))()
    for slot, arg in zip(array, args, strict=False):
        op = _COMPARE.get(arg.op)
        if op is None:
            raise InvalidArgument(f"unknown seccomp comparison {arg.op}", field=_FIELD)
        slot.arg, slot.op, slot.datum_a, slot.datum_b = arg.index, op, arg.value, arg.value_two
    rc = lib.seccomp_rule_add_array(ctx, action, nr, len(args), array)
    if rc < 0 and rc != -17:  # EEXIST: an earlier rule already says it
        raise InvalidArgument(f"seccomp rule for syscall {nr}: {os.strerror(-rc)}", field=_FIELD)


def compile_bpf(profile: LinuxSeccomp) -> bytes:
    """The BPF program (``struct sock_filter`` array) that applies ``profile``."""
    if profile.listener_path:
        raise InvalidArgument("the kata runtime has no seccomp notify listener", field=_FIELD)
    lib = _lib()
    default = _action(profile.default_action, profile.default_errno_ret)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise InvalidArgument(f"seccomp default action {profile.default_action}", field=_FIELD)
    try:
        for arch in profile.architectures:
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if token:
                rc = lib.seccomp_arch_add(ctx, token)
                if rc < 0 and rc != -17:
                    raise InvalidArgument(
                        f"seccomp architecture {arch}: {os.strerror(-rc)}", field=_FIELD
                    )
        for syscall in profile.syscalls:
            action = _action(syscall.action, syscall.errno_ret)
            if action == default:
                continue  # libseccomp refuses a rule that says what the default says
            for name in syscall.names:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr < 0:
                    continue  # not a syscall of these architectures
                for args in _conditions(syscall.args):
                    _rule(lib, ctx, action, nr, args)
        fd = os.memfd_create("pouch-seccomp")
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise PouchError(f"kata: exporting the seccomp filter: {os.strerror(-rc)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
