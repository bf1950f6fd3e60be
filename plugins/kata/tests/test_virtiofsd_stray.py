"""A virtiofsd whose PID never reached its pidfile is still found and stopped.

A crash of the engine between starting virtiofsd and writing its pidfile
left it serving a socket nobody would stop. The stand-in here is a shell
loop whose command line reads as that virtiofsd's; no VM is involved.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pouch_kata._virtiofsd import Virtiofsd


def test_stop_finds_a_virtiofsd_without_its_pidfile(tmp_path: Path) -> None:
    socket = tmp_path / "fs.sock"
    daemon = Virtiofsd(tmp_path / "shared", socket)
    stray = subprocess.Popen(
        ["virtiofsd", "-c", "while :; do sleep 0.1; done", "x", f"--socket-path={socket}"],
        executable="/bin/sh",
    )
    try:
        other = Virtiofsd(tmp_path / "shared", tmp_path / "other.sock")
        assert other.pid() is None  # another socket's virtiofsd is not this one
        deadline = time.monotonic() + 10
        while daemon.pid() != stray.pid and time.monotonic() < deadline:
            time.sleep(0.02)  # until its command line is in /proc
        assert daemon.pid() == stray.pid
        daemon.stop()
        assert stray.wait(timeout=10) != 0
        assert daemon.pid() is None
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
