"""The files of one container's directory, shared by the runtime and its monitor.

``<run root>/lxc/<id>/`` is at once LXC's container directory (the lxcpath is
``<run root>/lxc``, the container's LXC name is its pouch id) and the plugin's
record of it::

    config        the generated LXC configuration
    rootfs/       the image snapshot, mounted on the host by the runtime
    start-host    LXC hook: sysctls and loopback in the container's namespaces
    monitor.json  what the monitor runs: the command, the log, the stdio mode
    monitor.pid   the monitor, once started
    init.pid      "<pid> <start time>" of the container's init, once it runs
    lxc.log       lxc-start's log (where LXC reports the init's exit status)
    exit.json     the exit code, written by the monitor when lxc-start returns
    attach        the monitor's socket: stdin and terminal size (when wanted)

Everything is a small file so that a restarted pouchd finds it all again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec

from pouch.errors import NoSuchContainer

__all__ = [
    "ContainerDir",
    "ExitRecord",
    "MonitorSpec",
    "process_alive",
    "start_time",
    "write_atomic",
]


class MonitorSpec(msgspec.Struct, kw_only=True):
    """What the monitor runs, written by ``create``."""

    lxc_start: str
    lxcpath: str
    name: str
    args: list[str]
    # The container's environment and capabilities, for exec to compare with.
    env: list[str] = []
    capabilities: list[str] = []
    cgroup: str = ""
    cgroup_version: int = 1
    log_path: str
    log_max_size: int = 0
    log_max_files: int = 1
    terminal: bool = False
    stdin: bool = False
    height: int = 0
    width: int = 0


class ExitRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    exit_code: int
    finished_at: float
    oom_killed: bool = False
    # Set when the container never ran: LXC's own error lines.
    error: str = ""


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else 0


def process_alive(pid: int, started: int) -> bool:
    """Whether ``pid`` is still the process that started at ``started`` (and no zombie)."""
    if pid <= 0:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and (not started or start_time(pid) == started)


class ContainerDir:
    """Paths and records of one container, by id, under the plugin's lxcpath."""

    def __init__(self, lxcpath: Path, container_id: str) -> None:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise NoSuchContainer(container_id)
        self.id = container_id
        self.path = lxcpath / container_id
        self.config = self.path / "config"
        self.rootfs = self.path / "rootfs"
        self.hook = self.path / "start-host"
        self.seccomp = self.path / "seccomp"
        self.spec = self.path / "monitor.json"
        self.monitor_pid = self.path / "monitor.pid"
        self.init_pid = self.path / "init.pid"
        self.lxc_log = self.path / "lxc.log"
        self.exit = self.path / "exit.json"
        self.attach = self.path / "attach"
        self.monitor_err = self.path / "monitor.err"

    def exists(self) -> bool:
        """The directory exists (possibly half made, by a create that was cut short)."""
        return self.path.is_dir()

    def read_exit(self) -> ExitRecord | None:
        try:
            return msgspec.json.decode(self.exit.read_bytes(), type=ExitRecord)
        except (FileNotFoundError, msgspec.DecodeError):
            return None

    def write_exit(self, exit_code: int, error: str = "", *, oom_killed: bool = False) -> None:
        record = ExitRecord(
            exit_code=exit_code, finished_at=time.time(), error=error, oom_killed=oom_killed
        )
        write_atomic(self.exit, msgspec.json.encode(record))

    def _pid_file(self, path: Path) -> tuple[int, int]:
        try:
            pid, _, started = path.read_text().partition(" ")
            return int(pid), int(started or 0)
        except (FileNotFoundError, ValueError):
            return 0, 0

    def monitor(self) -> tuple[int, int]:
        """(pid, start time) of the monitor; (0, 0) before it started."""
        return self._pid_file(self.monitor_pid)

    def init(self) -> tuple[int, int]:
        """(pid, start time) of the container's init; (0, 0) before it ran."""
        return self._pid_file(self.init_pid)

    def monitor_alive(self) -> bool:
        return process_alive(*self.monitor())

    def live_init_pid(self) -> int:
        """The init's PID while that very process runs, else 0."""
        pid, started = self.init()
        return pid if self.read_exit() is None and process_alive(pid, started) else 0
