"""The spec's ``linux.seccomp`` as a liblxc seccomp policy (``lxc.seccomp.profile``).

liblxc reads a text policy, version 2: the policy type and its default action
(``allowlist errno 1`` when unlisted syscalls fail, ``denylist`` when they are
allowed), a ``[all]`` section (every architecture of the host), then one line
per syscall: ``name action [index,value,op,valueTwo]…``. Several lines for one
syscall are alternatives, as in the OCI spec.
"""

from __future__ import annotations

from pouch.errors import InvalidArgument
from pouch.oci import LinuxSeccomp, LinuxSyscall

__all__ = ["policy"]

_ACTIONS = {
    "SCMP_ACT_ALLOW": "allow",
    "SCMP_ACT_ERRNO": "errno",
    "SCMP_ACT_KILL": "kill",
    "SCMP_ACT_KILL_THREAD": "kill",
    "SCMP_ACT_KILL_PROCESS": "kill",
    "SCMP_ACT_TRAP": "trap",
    "SCMP_ACT_LOG": "log",
}


def _action(action: str, errno_ret: int | None) -> str:
    word = _ACTIONS.get(action)
    if word is None:
        raise InvalidArgument(f"the lxc runtime cannot apply the seccomp action {action}")
    return f"errno {1 if errno_ret is None else errno_ret}" if word == "errno" else word


def _line(syscall: LinuxSyscall, name: str) -> str:
    args = "".join(
        f"[{a.index},{a.value},{a.op}"
        + (f",{a.value_two}]" if a.op == "SCMP_CMP_MASKED_EQ" else "]")
        for a in syscall.args
    )
    return f"{name} {_action(syscall.action, syscall.errno_ret)} {args}".rstrip()


def policy(seccomp: LinuxSeccomp) -> str:
    """The policy file's text."""
    if seccomp.default_action == "SCMP_ACT_ALLOW":
        head = "denylist"
    else:
        head = f"allowlist {_action(seccomp.default_action, seccomp.default_errno_ret)}"
    lines = ["2", head, "[all]"]
    for syscall in seccomp.syscalls:
        lines += [_line(syscall, name) for name in syscall.names]
    return "\n".join(lines) + "\n"
