"""One lxcfs for the host: found mounted, or started by pouch and kept alive.

A mounted ``fuse.lxcfs`` (a system's ``lxcfs.service`` at ``/var/lib/lxcfs``)
is used as it is, and restarting it is its owner's business. Otherwise pouch
starts Debian's ``lxcfs`` on ``RUN_ROOT/lxcfs`` as a daemon of its own (it
outlives pouchd, since running containers read from it), and starts it again
when it died. Either way ``generation`` changes when the mount is a new one,
which is when running containers need it mounted again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from pouch.mounts import mount_table, unmount

__all__ = ["FILES", "Lxcfs"]

# What lxcfs serves and a container gets, relative to the mount.
FILES = (
    "proc/cpuinfo",
    "proc/diskstats",
    "proc/loadavg",
    "proc/meminfo",
    "proc/stat",
    "proc/swaps",
    "proc/uptime",
    "sys/devices/system/cpu/online",
)


def lxcfs_mounts() -> list[Path]:
    """Mount points of ``fuse.lxcfs`` in this mount namespace."""
    return [Path(entry.point) for entry in mount_table() if entry.fstype == "fuse.lxcfs"]


def _is_lxcfs(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "lxcfs"
    except OSError:
        return False


def answers(mount: Path) -> bool:
    """The FUSE server behind ``mount`` answers (a dead one: ENOTCONN)."""
    try:
        with (mount / "proc/meminfo").open("rb") as f:
            return bool(f.read(1))
    except OSError:
        return False


class Lxcfs:
    def __init__(self, binary: str, own_mount: Path, configured: Path | None = None) -> None:
        self.binary = binary
        self.own_mount = own_mount
        self.configured = configured  # a mount someone else keeps: never started here
        self.mount: Path | None = None
        self.generation = 0  # the mount's device number: new after each restart

    def _pick(self) -> Path | None:
        if self.configured is not None:
            return self.configured if answers(self.configured) else None
        mounts = lxcfs_mounts()
        for mount in sorted(mounts, key=lambda m: m != self.own_mount):
            if answers(mount):
                return mount
        return None

    def ensure(self, timeout: float = 10.0) -> Path:
        """The mount to use, starting lxcfs when none answers; ``OSError`` when it cannot."""
        mount = self._pick()
        if mount is None and self.configured is None:
            self._start()
            deadline = time.monotonic() + timeout
            while (mount := self._pick()) is None and time.monotonic() < deadline:
                time.sleep(0.05)
        if mount is None:
            where = self.configured or self.own_mount
            raise OSError(f"lxcfs does not answer at {where}")
        self.mount = mount
        self.generation = os.stat(mount).st_dev
        return mount

    def _start(self) -> None:
        mount = self.own_mount
        if mount in lxcfs_mounts():  # a dead one's mount is left behind
            unmount(mount)
        mount.mkdir(parents=True, exist_ok=True)
        with mount.with_name("lxcfs.log").open("ab") as log:
            # lxcfs stays in the foreground: setsid -f runs it in a session of
            # its own, no child of pouchd, so that neither pouchd's exit nor its
            # signals reach it.
            subprocess.run(
                [
                    "setsid",
                    "-f",
                    self.binary,
                    "-l",
                    "-p",
                    str(mount.with_name("lxcfs.pid")),
                    str(mount),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                timeout=30,
                check=True,
            )

    def stop(self) -> None:
        """Stop the lxcfs pouch started, if it runs, and take its mount away."""
        pid = self.pid()
        if pid and _is_lxcfs(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while _is_lxcfs(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        if self.own_mount in lxcfs_mounts():
            unmount(self.own_mount)
        self.mount = None
        self.generation = 0

    def pid(self) -> int:
        """The PID of the lxcfs pouch started; 0 when it started none."""
        try:
            return int(self.own_mount.with_name("lxcfs.pid").read_text())
        except (OSError, ValueError):
            return 0
