"""virtiofsd: shares one host directory with one VM over a vhost-user socket.

It runs in a session of its own, so it outlives the process that started it
(as QEMU does), with its PID in a file beside its socket; it is only ever
signalled after ``/proc`` shows the PID still is that virtiofsd (or, when a
crash came between its start and the pidfile, once ``/proc`` shows the
virtiofsd serving its socket). It ends by itself when QEMU closes the socket.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["VIRTIOFSD", "Virtiofsd", "live_pid"]

# Debian 12 ships the C virtiofsd with QEMU, outside PATH.
VIRTIOFSD = Path("/usr/lib/qemu/virtiofsd")


def live_pid(pidfile: Path, argument: str) -> int | None:
    """The PID in ``pidfile`` while that process lives and has ``argument`` in its
    command line (so a reused PID is never taken for it)."""
    try:
        pid = int(pidfile.read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return pid if argument.encode() in argv and state != "Z" else None


class Virtiofsd:
    def __init__(self, shared: Path, socket: Path, program: Path = VIRTIOFSD) -> None:
        self.shared = shared
        self.socket = socket
        self.program = program
        self.pidfile = socket.with_suffix(".pid")
        self.log = socket.with_suffix(".log")

    def start(self, timeout: float = 10.0) -> int:
        """Start it; its PID once its socket listens."""
        if not self.program.exists():
            raise FileNotFoundError(
                f"{self.program} not found; install the Debian package qemu-system-common"
            )
        self.socket.unlink(missing_ok=True)
        with self.log.open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(self.program),
                    f"--socket-path={self.socket}",
                    "-o",
                    f"source={self.shared}",
                    "-o",
                    "cache=auto",
                    "-o",
                    "sandbox=chroot",
                    "-o",
                    "log_level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                message = self.log.read_text(errors="replace").strip()
                self.stop()
                raise RuntimeError(f"virtiofsd did not start: {message[-400:] or 'no output'}")
            time.sleep(0.01)
        # Our child only until we go: whoever reaps it later is init.
        with contextlib.suppress(OSError):
            os.waitpid(proc.pid, os.WNOHANG)
        return proc.pid

    def pid(self) -> int | None:
        """Its PID while it runs (and is still ours)."""
        found = live_pid(self.pidfile, f"--socket-path={self.socket}")
        return found if found is not None else self._unrecorded()

    def _unrecorded(self) -> int | None:
        """The virtiofsd on this socket whose PID never reached the pidfile (the
        process that started it was killed in between), found in ``/proc``."""
        if self.pidfile.exists():
            return None
        wanted = f"--socket-path={self.socket}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if wanted in argv and argv[0].endswith(b"virtiofsd"):
                return int(entry.name)
        return None

    def stop(self, timeout: float = 3.0) -> None:
        """End it (SIGTERM, then SIGKILL) and remove its files."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pid = self.pid()
            if pid is None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while self.pid() is not None and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.01)
        for path in (self.socket, self.pidfile, self.log):
            path.unlink(missing_ok=True)
