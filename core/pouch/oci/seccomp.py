"""The ``linux.seccomp`` section of the OCI runtime-spec.

Owns the structs of a seccomp filter so that a profile a plugin installs, or
one a runtime reports back, survives a decode/encode round trip. The default
spec builder sets no profile; choosing one is a plugin's decision.
"""

from __future__ import annotations

import msgspec

from ._base import OCIStruct

__all__ = ["LinuxSeccomp", "LinuxSeccompArg", "LinuxSyscall"]


class LinuxSeccompArg(OCIStruct, kw_only=True):
    """A condition on one syscall argument; ``op`` is e.g. ``SCMP_CMP_EQ``."""

    index: int
    value: int
    value_two: int = msgspec.field(default=0, name="valueTwo")
    op: str


class LinuxSyscall(OCIStruct, kw_only=True):
    """An action (``SCMP_ACT_*``) for a set of syscall names."""

    names: list[str]
    action: str
    errno_ret: int | None = msgspec.field(default=None, name="errnoRet")
    args: list[LinuxSeccompArg] = []


class LinuxSeccomp(OCIStruct, kw_only=True):
    default_action: str = msgspec.field(name="defaultAction")
    default_errno_ret: int | None = msgspec.field(default=None, name="defaultErrnoRet")
    architectures: list[str] = []
    flags: list[str] = []
    listener_path: str = msgspec.field(default="", name="listenerPath")
    listener_metadata: str = msgspec.field(default="", name="listenerMetadata")
    syscalls: list[LinuxSyscall] = []
