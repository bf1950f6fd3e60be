"""Process plumbing for the benchmark: timed commands, services stopped by PID, RSS.

Everything the benchmark starts goes through here, so that everything it
starts can be found and stopped again: ``Service`` stops its own process
(SIGTERM, then SIGKILL); ``sweep`` kills, by PID, processes left behind that
belong to the benchmark's temporary directory (monitors, shims, container
processes); ``unmount_under`` lifts the mounts made below it before it is
deleted. This module measures nothing itself and asserts nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "TOKEN",
    "BenchError",
    "Service",
    "become_subreaper",
    "output",
    "pids_matching",
    "reap",
    "rss_mib",
    "run",
    "settle",
    "sweep",
    "timed",
    "timed_batch",
    "unmount_under",
]

STOP_TIMEOUT = 10.0
_PR_SET_CHILD_SUBREAPER = 36
_SERVICES: set[int] = set()  # PIDs of the daemons we started: their Popen reaps them
# In container IDs, names and cgroups the run makes: no other engine on the host uses it.
TOKEN = f"pb{os.getpid():x}"


class BenchError(RuntimeError):
    """A command the benchmark needs failed; the message says which and why."""


def _describe(command: Sequence[str], stderr: bytes | str | None) -> str:
    tail = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    shown = " ".join(command[:8]) + (" …" if len(command) > 8 else "")
    return f"{shown}: {tail.strip()[-600:]}"


def run(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` to its end; ``BenchError`` with its stderr when it fails."""
    try:
        done = subprocess.run(
            list(command),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(_describe(command, f"timed out after {timeout:.0f}s")) from exc
    except OSError as exc:
        raise BenchError(_describe(command, str(exc))) from exc
    if done.returncode != 0:
        raise BenchError(_describe(command, done.stderr or done.stdout))
    return done


def output(command: Sequence[str], *, env: Mapping[str, str] | None = None) -> str:
    """The stdout of ``command`` (stderr when stdout is empty), stripped."""
    done = run(command, env=env, timeout=30)
    return (done.stdout or done.stderr).decode(errors="replace").strip()


def timed(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> float:
    """Wall-clock seconds from starting ``command`` to its exit."""
    start = time.perf_counter()
    run(command, env=env, timeout=timeout)
    return time.perf_counter() - start


def timed_batch(
    commands: Sequence[Sequence[str]],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> float:
    """Start every command at once; seconds until the last one has exited."""
    start = time.perf_counter()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            procs.append(
                subprocess.Popen(
                    list(command),
                    env=dict(env) if env is not None else None,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        failures = []
        deadline = start + timeout
        for command, proc in zip(commands, procs, strict=True):
            try:
                _, err = proc.communicate(timeout=max(0.1, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired as exc:
                raise BenchError(_describe(command, f"timed out after {timeout:.0f}s")) from exc
            if proc.returncode != 0:
                failures.append(_describe(command, err))
        elapsed = time.perf_counter() - start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failures:
        raise BenchError(f"{len(failures)} of {len(procs)} failed; first: {failures[0]}")
    return elapsed


class Service:
    """A long-running process the benchmark started (a daemon), stopped by its PID."""

    def __init__(
        self, name: str, command: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                list(command),
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                start_new_session=True,  # Ctrl-C reaches the benchmark, which stops it in order
            )
        _SERVICES.add(self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, up to ``STOP_TIMEOUT`` seconds, then SIGKILL."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pids_matching(program: str, needle: str) -> list[int]:
    """PIDs whose program is named ``program`` and whose arguments mention ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = _cmdline(int(entry.name))
        if argv and Path(argv[0]).name == program and any(needle in arg for arg in argv):
            found.append(int(entry.name))
    return sorted(found)


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _belongs(pid: int, root: str, markers: Sequence[str]) -> bool:
    if pid == os.getpid():
        return False
    if any(root in arg for arg in _cmdline(pid)):
        return True
    if not markers:
        return False
    try:  # a container's process: its cgroup names one of our containers
        cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
    return any(marker in cgroups for marker in markers)


def sweep(root: Path, markers: Sequence[str] = ()) -> list[int]:
    """SIGKILL, by PID, every process still tied to ``root`` or to a cgroup in ``markers``.

    ``markers`` are container IDs and ID prefixes only the benchmark uses, so
    nothing of another engine on the host matches. Returns the PIDs killed.
    """
    killed = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _belongs(int(entry.name), str(root), markers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


def become_subreaper() -> None:
    """Adopt the orphans of what we start (podman's conmons, shims), so we can reap them.

    Without it they are re-parented to PID 1; where that init reaps lazily, their
    zombies keep the cgroups they ran in busy.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def settle(*, window: float = 0.1, busy: float = 0.1, limit: float = 10.0) -> float:
    """Wait until the machine is idle: under ``busy`` of all CPUs over ``window`` s.

    Returns the seconds waited (at most about ``limit``). The bench's own
    loop is idle while it waits, so what is busy is the engines' leftovers.
    """
    start = time.monotonic()
    before = _cpu_ticks()
    while True:
        time.sleep(window)
        after = _cpu_ticks()
        spent, elapsed = after[0] - before[0], after[1] - before[1]
        before = after
        if elapsed > 0 and spent / elapsed < busy:
            return time.monotonic() - start - window
        if time.monotonic() - start > limit:
            return time.monotonic() - start


def reap() -> None:
    """Collect exited children no ``Popen`` waits for (adopted orphans); never a ``Service``."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in _SERVICES:
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[0] == "Z" and int(fields[1]) == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(entry.name), os.WNOHANG)


def unmount_under(root: Path) -> None:
    """Lazily unmount every mount below ``root``, deepest first."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    prefix = str(root).rstrip("/") + "/"
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    below = sorted({p for p in points if p.startswith(prefix)}, key=len, reverse=True)
    for point in below:
        subprocess.run(["umount", "-l", point], capture_output=True, check=False, timeout=30)
