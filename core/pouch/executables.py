"""Whether a command can run in a container, found as the kernel and runc would find it.

Docker answers an exec of a missing command with exit code 127 (126 when the
file is there but cannot be executed) and the runtime's message. A runtime
whose root filesystem is visible on the host checks the command with
``check_command`` before it starts anything, so every runtime says the same.
Paths are resolved inside the root filesystem: symlinks are followed by hand,
an absolute target taken from the root, never from the host's ``/``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from pouch.errors import PouchError

__all__ = ["CannotExecute", "check_command"]

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_LINKS = 40


class CannotExecute(PouchError):
    """The command cannot start; ``exit_code`` is docker's: 127 missing, 126 not executable."""

    status = 400

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _resolve(rootfs: Path, path: str) -> Path | None:
    """``path`` inside ``rootfs`` with every symlink followed within it; None if missing."""
    parts = list(PurePosixPath(path).parts[1:])
    current = PurePosixPath("/")
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        host = rootfs / str(candidate).lstrip("/")
        try:
            info = os.lstat(host)
        except OSError:
            return None
        if stat.S_ISLNK(info.st_mode):
            hops += 1
            if hops > _MAX_LINKS:
                return None
            target = os.readlink(host)
            parts = list(PurePosixPath(target).parts) + parts
            if target.startswith("/"):
                parts = parts[1:]
                current = PurePosixPath("/")
            continue
        current = candidate
    return rootfs / str(current).lstrip("/")


def _runnable(path: Path | None) -> bool | None:
    """None: no such file; False: there but not executable; True: runnable."""
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return stat.S_ISREG(info.st_mode) and bool(info.st_mode & 0o111)


def _failure(command: str, why: str, exit_code: int) -> CannotExecute:
    return CannotExecute(
        "OCI runtime exec failed: exec failed: unable to start container process:"
        f' exec: "{command}": {why}: unknown',
        exit_code,
    )


def check_command(rootfs: Path, args: list[str], env: list[str], cwd: str = "/") -> None:
    """Raise ``CannotExecute`` when ``args[0]`` cannot run in ``rootfs`` (as runc's exec)."""
    if not args or not rootfs.is_dir():
        return
    command = args[0]
    if "/" in command:
        path = command if command.startswith("/") else os.path.join(cwd or "/", command)
        runnable = _runnable(_resolve(rootfs, path))
        if runnable is None:
            raise _failure(command, "stat " + command + ": no such file or directory", 127)
        if not runnable:
            raise _failure(command, "permission denied", 126)
        return
    search = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), _DEFAULT_PATH)
    denied = False
    for directory in search.split(":"):
        runnable = _runnable(_resolve(rootfs, os.path.join(directory or ".", command)))
        if runnable:
            return
        denied = denied or runnable is False
    if denied:
        raise _failure(command, "permission denied", 126)
    raise _failure(command, "executable file not found in $PATH", 127)
