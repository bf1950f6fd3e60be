"""Seccomp by default: every container gets a syscall filter, as under docker.

The profile is data (``seccomp_default.json``) in Docker's profile format, so
``--security-opt seccomp=profile.json`` takes the same files docker does. A
profile is compiled for one container: a rule applies when the container holds
the capabilities its ``includes.caps`` name (and none of ``excludes.caps``), on
this host's architecture, on a kernel at least ``minKernel``. The result is the
spec's ``linux.seccomp``, which runc, crun and lxc apply before the container's
first instruction. ``--privileged`` and ``seccomp=unconfined`` get no filter.
"""

from __future__ import annotations

import functools
import os
import platform
from importlib import resources
from pathlib import Path

import msgspec

from pouch import oci
from pouch.config import EngineConfig
from pouch.errors import InvalidArgument
from pouch.markers import hookimpl
from pouch.models import Container

__all__ = ["UNCONFINED", "Profile", "compile_profile", "default_profile", "parse_profile"]

UNCONFINED = "unconfined"
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "x86", "ppc64le": "ppc64le"}


class Filter(msgspec.Struct, kw_only=True):
    caps: list[str] = []
    arches: list[str] = []
    min_kernel: str = msgspec.field(default="", name="minKernel")


class Rule(msgspec.Struct, kw_only=True):
    names: list[str] = []
    name: str = ""  # the older one-syscall form
    action: str
    errno_ret: int | None = msgspec.field(default=None, name="errnoRet")
    args: list[oci.LinuxSeccompArg] | None = None
    includes: Filter = msgspec.field(default_factory=Filter)
    excludes: Filter = msgspec.field(default_factory=Filter)


class ArchMap(msgspec.Struct, kw_only=True):
    architecture: str
    sub_architectures: list[str] = msgspec.field(default_factory=list, name="subArchitectures")


class Profile(msgspec.Struct, kw_only=True):
    """A seccomp profile in Docker's JSON format."""

    default_action: str = msgspec.field(name="defaultAction")
    default_errno_ret: int | None = msgspec.field(default=None, name="defaultErrnoRet")
    architectures: list[str] = []
    arch_map: list[ArchMap] = msgspec.field(default_factory=list, name="archMap")
    flags: list[str] = []
    syscalls: list[Rule] = []


def parse_profile(text: str | bytes) -> Profile:
    """A profile from its JSON; ``ValueError`` says what is wrong with it."""
    try:
        return msgspec.json.decode(text, type=Profile)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a seccomp profile: {exc}") from None


@functools.cache
def default_profile() -> Profile:
    """The built-in profile, read once (compiling does not change it)."""
    data = resources.files("pouch.builtins").joinpath("seccomp_default.json").read_bytes()
    return parse_profile(data)


def _kernel_at_least(version: str, release: str) -> bool:
    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split("-")[0].split(".")[:2] if p.isdigit())

    return numbers(release) >= numbers(version)


def _applies(rule: Rule, caps: set[str], arch: str, release: str) -> bool:
    inc, exc = rule.includes, rule.excludes
    if not set(inc.caps) <= caps or (inc.arches and arch not in inc.arches):
        return False
    if inc.min_kernel and not _kernel_at_least(inc.min_kernel, release):
        return False
    return not (set(exc.caps) & caps or arch in exc.arches)


def _architectures(profile: Profile, machine: str) -> list[str]:
    native = "SCMP_ARCH_" + machine.upper()
    for entry in profile.arch_map:
        if entry.architecture == native:
            return [entry.architecture, *entry.sub_architectures]
    return list(profile.architectures)


def compile_profile(
    profile: Profile, caps: set[str], *, machine: str = "", release: str = ""
) -> oci.LinuxSeccomp:
    """The OCI filter ``profile`` gives a container holding ``caps`` on this host."""
    machine = machine or platform.machine()
    release = release or os.uname().release
    arch = _GO_ARCH.get(machine, machine)
    syscalls = [
        oci.LinuxSyscall(
            names=rule.names or [rule.name],
            action=rule.action,
            errno_ret=rule.errno_ret,
            args=rule.args or [],
        )
        for rule in profile.syscalls
        if _applies(rule, caps, arch, release)
    ]
    return oci.LinuxSeccomp(
        default_action=profile.default_action,
        default_errno_ret=profile.default_errno_ret,
        architectures=_architectures(profile, machine),
        flags=profile.flags,
        syscalls=syscalls,
    )


def kernel_has_seccomp() -> bool:
    """Whether this kernel filters syscalls (``Seccomp:`` in /proc/self/status)."""
    try:
        return "\nSeccomp:" in Path("/proc/self/status").read_text()
    except OSError:
        return False


@hookimpl
def pouch_container_create(container: Container, spec: oci.Spec) -> None:
    config = container.config
    if config.privileged or config.seccomp_profile == UNCONFINED or spec.process is None:
        return
    try:
        profile = parse_profile(config.seccomp_profile) if config.seccomp_profile else None
    except ValueError as exc:
        raise InvalidArgument(str(exc), field="seccomp_profile") from None
    caps = set(spec.process.capabilities.bounding) if spec.process.capabilities else set()
    linux = spec.linux if spec.linux is not None else oci.Linux()
    linux.seccomp = compile_profile(profile or default_profile(), caps)
    spec.linux = linux


@hookimpl
def pouch_security_options(config: EngineConfig) -> list[str]:
    return ["name=seccomp,profile=builtin"] if kernel_has_seccomp() else []
