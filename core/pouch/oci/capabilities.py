"""Which Linux capabilities a container's process keeps.

Owns Docker's default capability set and the rules by which ``cap_add``,
``cap_drop`` and ``privileged`` change it. It reads
``/proc/sys/kernel/cap_last_cap`` so that "all capabilities" means all the
host kernel knows (a runtime may refuse a name its kernel lacks); it must not
touch anything else on the host.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CAPABILITY_NUMBERS", "DEFAULT_CAPABILITIES", "all_capabilities", "capability_set"]

# Kernel numbers (linux/capability.h); they order the lists we write.
CAPABILITY_NUMBERS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        [
            "CHOWN",
            "DAC_OVERRIDE",
            "DAC_READ_SEARCH",
            "FOWNER",
            "FSETID",
            "KILL",
            "SETGID",
            "SETUID",
            "SETPCAP",
            "LINUX_IMMUTABLE",
            "NET_BIND_SERVICE",
            "NET_BROADCAST",
            "NET_ADMIN",
            "NET_RAW",
            "IPC_LOCK",
            "IPC_OWNER",
            "SYS_MODULE",
            "SYS_RAWIO",
            "SYS_CHROOT",
            "SYS_PTRACE",
            "SYS_PACCT",
            "SYS_ADMIN",
            "SYS_BOOT",
            "SYS_NICE",
            "SYS_RESOURCE",
            "SYS_TIME",
            "SYS_TTY_CONFIG",
            "MKNOD",
            "LEASE",
            "AUDIT_WRITE",
            "AUDIT_CONTROL",
            "SETFCAP",
            "MAC_OVERRIDE",
            "MAC_ADMIN",
            "SYSLOG",
            "WAKE_ALARM",
            "BLOCK_SUSPEND",
            "AUDIT_READ",
            "PERFMON",
            "BPF",
            "CHECKPOINT_RESTORE",
        ]
    )
}

# What Docker grants an unprivileged container.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
)


def _bounding_set(status: str) -> int | None:
    try:
        with open(status) as file:
            for line in file:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        return None
    return None


def all_capabilities(
    cap_last_cap: str = "/proc/sys/kernel/cap_last_cap", status: str = "/proc/self/status"
) -> list[str]:
    """Every capability the kernel supports that this process may hand on.

    A privileged container gets all of them, but no process can grant a
    capability outside its own bounding set (a host without CAP_SYS_RESOURCE
    cannot give it), so the set is what the running kernel knows, narrowed
    to our bounding set.
    """
    try:
        with open(cap_last_cap) as file:
            last = int(file.read().strip())
    except (OSError, ValueError):
        last = max(CAPABILITY_NUMBERS.values())
    bounding = _bounding_set(status)
    return [
        name
        for name, number in CAPABILITY_NUMBERS.items()
        if number <= last and (bounding is None or bounding >> number & 1)
    ]


def _bare(name: str) -> str:
    return name.upper().removeprefix("CAP_")


def capability_set(
    *,
    privileged: bool = False,
    cap_add: Iterable[str] = (),
    cap_drop: Iterable[str] = (),
    known: Iterable[str] | None = None,
) -> list[str]:
    """The ``CAP_*`` names a container keeps, in kernel order, the way Docker decides.

    ``privileged`` grants everything ``known`` (default: what the kernel
    supports). Otherwise ``ALL`` in ``cap_add`` grants everything except
    ``cap_drop``; else ``ALL`` in ``cap_drop`` keeps only ``cap_add``; else
    the default set minus ``cap_drop`` plus ``cap_add``. Names may carry the
    ``CAP_`` prefix or not, in any case.
    """
    adds = {_bare(c) for c in cap_add}
    drops = {_bare(c) for c in cap_drop}
    if privileged or "ALL" in adds:
        everything = set(known if known is not None else all_capabilities())
        kept = everything if privileged else everything - drops
    elif "ALL" in drops:
        kept = adds
    else:
        kept = (set(DEFAULT_CAPABILITIES) - drops) | adds
    # Unknown names sort last instead of failing: validation is models.py's job.
    ordered = sorted(kept, key=lambda c: (CAPABILITY_NUMBERS.get(c, 1 << 16), c))
    return ["CAP_" + c for c in ordered]
