"""Put host files into a running container's mount namespace, over what is there.

Run as ``python -m pouch_isolation._inject PID SOURCE:TARGET …`` (a process of
its own: ``setns`` into a mount namespace needs a single-threaded caller). Each
SOURCE is cloned as a detached bind mount in the host's namespace
(``open_tree``), then, inside the container's namespace, whatever is mounted at
TARGET is detached and the clone moved there (``move_mount``). Linux 5.2 or
later. Exits 1 with the reason on stderr when one fails.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from pathlib import Path

from pouch.mounts import unmount

_SYSCALLS = {"x86_64": (428, 429), "aarch64": (428, 429)}
OPEN_TREE_CLONE = 1
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
CLONE_NEWNS = 0x00020000

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def inject(pid: int, pairs: list[tuple[str, str]]) -> None:
    open_tree, move_mount = _SYSCALLS[platform.machine()]
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC
    clones = [
        (_check(_libc.syscall(open_tree, AT_FDCWD, s.encode(), flags), f"open_tree {s}"), t)
        for s, t in pairs
    ]
    namespace = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    _check(_libc.setns(namespace, CLONE_NEWNS), f"setns into process {pid}")
    for fd, target in clones:
        unmount(Path(target))  # the stale one; nothing there is fine
        _check(
            _libc.syscall(move_mount, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH),
            f"move_mount to {target}",
        )


def main(argv: list[str]) -> int:
    try:
        inject(int(argv[0]), [tuple(p.split(":", 1)) for p in argv[1:]])  # type: ignore[misc]
    except (OSError, ValueError, IndexError, KeyError) as exc:
        print(f"inject: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
