"""The per-container monitor: runs ``lxc-start -F`` and turns its output into the log.

Run as ``python -m pouch_lxc._monitor <container dir>``. It double-forks, so
it is nobody's child and outlives pouchd, then starts ``lxc-start`` in the
foreground with the container's command after ``--``. With
``lxc.console.path = none`` LXC hands the init our own stdio, so the monitor
holds a pipe per stream (or one terminal) and writes what comes in the CRI
log format with stdout and stderr kept apart — LXC's console log could not
tell them apart. It records the init's PID once LXC reports it started,
serves the ``attach`` socket (stdin, terminal size), watches for OOM kills,
and when lxc-start returns, writes the init's exit code, which LXC reports
only in its log.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import traceback
from pathlib import Path
from typing import Literal

import msgspec

from pouch.logs import LogWriter
from pouch_lxc._oom import watch_oom
from pouch_lxc._state import ContainerDir, MonitorSpec, start_time, write_atomic

__all__ = ["exit_status", "main", "started_pid"]

_STARTED = re.compile(rb'Started "[^\n]*" with pid "(\d+)"')
_FAILED_EXEC = re.compile(rb"- (No such file or directory|Permission denied) - Failed to exec")


def started_pid(log: bytes) -> int:
    """The init's PID as lxc-start logs it (at NOTICE) once the command runs; else 0."""
    found = _STARTED.findall(log)
    return int(found[-1]) if found else 0


def exit_status(log: bytes, pid: int, returncode: int) -> tuple[int, str]:
    """(exit code, error) of the run: lxc-start itself exits 0 whatever the init did.

    LXC logs a non-zero exit as "Child <pid> ended on error (N)" and death by
    a signal as "Child <pid> ended on signal Name(N)" (at INFO); silence
    means 0. Without a PID the container never ran: the error is LXC's.
    """
    if pid:
        error = re.search(rb"Child <%d> ended on error \((\d+)\)" % pid, log)
        if error:
            return int(error.group(1)), ""
        killed = re.search(rb"Child <%d> ended on signal [^\n]*?\((\d+)\)" % pid, log)
        if killed:
            return 128 + int(killed.group(1)), ""
        return (0, "") if returncode == 0 else (255, "")
    lines = [line for line in log.splitlines() if b" ERROR " in line]
    messages = [line.split(b" - ", 1)[-1].decode(errors="replace") for line in lines]
    failed = _FAILED_EXEC.search(log)
    code = 125
    if failed:
        code = 127 if failed.group(1).startswith(b"No such") else 126
    return code, "; ".join(messages[:4]) or f"lxc-start exited with {returncode}"


class _Stdio:
    """The container's side and our side of its stdio."""

    def __init__(self, spec: MonitorSpec) -> None:
        self.terminal = spec.terminal
        self.master = -1
        self.stdin = -1  # where input goes
        self.outputs: list[tuple[int, Literal["stdout", "stderr"]]] = []
        if spec.terminal:
            self.master, slave = os.openpty()
            if spec.height and spec.width:
                self.resize(spec.height, spec.width)
            self.child = (slave, slave, slave)
            self.stdin = self.master
            self.outputs = [(self.master, "stdout")]
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if spec.stdin:
            in_r, self.stdin = os.pipe()
        else:
            in_r = os.open(os.devnull, os.O_RDONLY)
        self.child = (in_r, out_w, err_w)
        self.outputs = [(out_r, "stdout"), (err_r, "stderr")]

    def close_child_side(self) -> None:
        for fd in set(self.child):
            os.close(fd)

    def resize(self, height: int, width: int) -> None:
        if self.master >= 0:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def close_stdin(self) -> None:
        if self.terminal:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")  # end of input, as a terminal knows it
        elif self.stdin >= 0:
            fd, self.stdin = self.stdin, -1
            os.close(fd)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self.stdin >= 0:
            view = view[os.write(self.stdin, view) :]


def _pump(
    fd: int, stream: Literal["stdout", "stderr"], log: LogWriter, lock: threading.Lock
) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the last process on the terminal is gone
            break
        if not chunk:
            break
        with lock:
            log.write(stream, chunk)


def _client(conn: socket.socket, stdio: _Stdio, paths: ContainerDir) -> None:
    """One attach connection: b"i" + bytes is input, b"c" closes stdin, b"r" + "H W" resizes."""
    with conn:
        while packet := conn.recv(65537):
            kind, payload = packet[:1], packet[1:]
            try:
                if kind == b"i":
                    stdio.write(payload)
                elif kind == b"c":
                    stdio.close_stdin()
                elif kind == b"r":
                    height, width = (int(v) for v in payload.split())
                    stdio.resize(height, width)
                    # The init has no controlling terminal to be told by the kernel.
                    if stdio.terminal and (pid := paths.live_init_pid()):
                        os.kill(pid, signal.SIGWINCH)
            except (OSError, ValueError):
                continue


def _serve(listener: socket.socket, stdio: _Stdio, paths: ContainerDir) -> None:
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_client, args=(conn, stdio, paths), daemon=True).start()


def _listen(paths: ContainerDir) -> socket.socket:
    # Bound by relative name: the full path may exceed a socket address's 108 bytes.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    os.chdir(paths.path)
    try:
        listener.bind(paths.attach.name)
    finally:
        os.chdir("/")
    listener.listen(8)
    return listener


def _run(paths: ContainerDir) -> int:
    spec = msgspec.json.decode(paths.spec.read_bytes(), type=MonitorSpec)
    log = LogWriter(Path(spec.log_path), max_size=spec.log_max_size, max_files=spec.log_max_files)
    lock = threading.Lock()
    stdio = _Stdio(spec)
    if spec.stdin or spec.terminal:
        listener = _listen(paths)
        threading.Thread(target=_serve, args=(listener, stdio, paths), daemon=True).start()
    argv = [spec.lxc_start, "-F", "-q", "-n", spec.name, "-P", spec.lxcpath]
    argv += ["-o", str(paths.lxc_log), "-l", "INFO", "--", *spec.args]
    paths.lxc_log.unlink(missing_ok=True)
    proc = subprocess.Popen(
        argv, stdin=stdio.child[0], stdout=stdio.child[1], stderr=stdio.child[2], cwd="/"
    )
    stdio.close_child_side()
    pumps = [
        threading.Thread(target=_pump, args=(fd, stream, log, lock), daemon=True)
        for fd, stream in stdio.outputs
    ]
    for pump in pumps:
        pump.start()
    # Watching from before the cgroup exists: an OOM kill in the first
    # milliseconds must not pass unseen (LXC removes the cgroup at the exit).
    oom, exited = threading.Event(), threading.Event()
    watch = (spec.cgroup, spec.cgroup_version, oom, exited)
    threading.Thread(target=watch_oom, args=watch, daemon=True).start()
    pid = 0
    while True:  # until LXC says the command runs, or lxc-start gave up
        with contextlib.suppress(FileNotFoundError):
            pid = started_pid(paths.lxc_log.read_bytes())
        if pid or proc.poll() is not None:
            break
        time.sleep(0.005)
    if pid:
        write_atomic(paths.init_pid, f"{pid} {start_time(pid)}".encode())
    returncode = proc.wait()
    exited.set()
    for pump in pumps:
        pump.join(timeout=5)
    with lock:
        log.close()
    text = paths.lxc_log.read_bytes() if paths.lxc_log.exists() else b""
    code, error = exit_status(text, pid or started_pid(text), returncode)
    paths.write_exit(code, error, oom_killed=oom.is_set())
    return 0


def main() -> None:
    directory = Path(sys.argv[1])
    paths = ContainerDir(directory.parent, directory.name)
    if os.fork() != 0:
        os._exit(0)  # the first child exits: the monitor is re-parented away from pouchd
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    errors = os.open(paths.monitor_err, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for fd, target in ((devnull, 0), (devnull, 1), (errors, 2)):
        os.dup2(fd, target)
    os.close(devnull)
    os.close(errors)
    pid = os.getpid()
    write_atomic(paths.monitor_pid, f"{pid} {start_time(pid)}".encode())
    try:
        code = _run(paths)
    except BaseException:
        traceback.print_exc()
        if paths.read_exit() is None:
            with contextlib.suppress(OSError):
                paths.write_exit(125, "the lxc monitor failed: see monitor.err")
        code = 1
    os._exit(code)


if __name__ == "__main__":
    main()
