"""Monitors that outlive the engine: what any runtime needs to run a container's command.

``Monitors`` keeps one state directory per container under its root. ``start``
launches ``python -m pouch.monitor._child DIR``, which double-forks (it is
nobody's child, so neither the engine's exit nor its ``kill -9`` touches it),
runs the command in a process group of its own, writes its output to the
container's log in the CRI format (``pouch.logs.LogWriter``, rotated at
``log_max_size`` keeping ``log_max_files`` files) and, when the command
exits, its exit code and time to ``DIR/exit``. Everything else reads those
files, so ``wait``, ``state`` and ``list`` work for containers an earlier
engine process started.

A runtime builds the command (``bwrap … -- sh``, ``nsenter …``, or the bare
command for the ``process`` test runtime) and leaves the rest to this.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import anyio

from pouch.drivers import ExitStatus, RuntimeState
from pouch.errors import Conflict, NoSuchContainer

__all__ = ["Monitors"]

_POLL = 0.02


class Monitors:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, container_id: str) -> Path:
        """The container's state directory (a runtime may keep its own files there too)."""
        return self.root / container_id

    def pid(self, container_id: str) -> int:
        """The command's PID (its process group's ID); 0 before it started."""
        try:
            return int((self.directory(container_id) / "pid").read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def exit_status(self, container_id: str) -> ExitStatus | None:
        """How the command ended; None while it runs or before it started."""
        try:
            data = json.loads((self.directory(container_id) / "exit").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return ExitStatus(exit_code=data["exit_code"], finished_at=data["finished_at"])

    def running(self, container_id: str) -> bool:
        return bool(self.pid(container_id)) and self.exit_status(container_id) is None

    def prepare(
        self,
        container_id: str,
        args: list[str],
        *,
        env: list[str],
        cwd: str,
        log_path: Path,
        log_max_size: int = 0,
        log_max_files: int = 1,
    ) -> RuntimeState:
        """Record what to run; ``start`` runs it. The directory must not exist yet."""
        directory = self.directory(container_id)
        directory.mkdir(parents=True)
        record = {
            "args": args,
            "env": env,
            "cwd": cwd,
            "log_path": str(log_path),
            "log_max_size": log_max_size,
            "log_max_files": log_max_files,
        }
        (directory / "process.json").write_text(json.dumps(record))
        return RuntimeState(id=container_id, status="created")

    async def start(self, container_id: str) -> RuntimeState:
        """Launch the monitor; returns once the command runs, with its PID."""
        directory = self.directory(container_id)
        if not (directory / "process.json").exists():
            raise NoSuchContainer(container_id)
        if self.pid(container_id):
            raise Conflict(f"container {container_id[:12]} was already started")
        await anyio.run_process(
            [sys.executable, "-m", "pouch.monitor._child", str(directory)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            stdout=subprocess.DEVNULL,
            stderr=None,
        )
        with anyio.fail_after(10):
            while not (pid := self.pid(container_id)):
                await anyio.sleep(_POLL)
        return RuntimeState(id=container_id, status="running", pid=pid)

    async def kill(self, container_id: str, sig: int) -> None:
        """Signal the command; nothing happens when it already exited."""
        pid = self.pid(container_id)
        if pid and self.exit_status(container_id) is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    async def signal_group(self, container_id: str, sig: int) -> None:
        """Signal the command's whole process group (SIGSTOP/SIGCONT to pause)."""
        if not self.running(container_id):
            raise Conflict(f"container {container_id[:12]} is not running")
        os.killpg(self.pid(container_id), sig)

    async def wait(self, container_id: str) -> ExitStatus:
        """Return when the command has exited (also one an earlier engine started)."""
        while True:
            status = self.exit_status(container_id)
            if status is not None:
                return status
            if not self.directory(container_id).exists():
                raise NoSuchContainer(container_id)
            await anyio.sleep(_POLL)

    async def state(self, container_id: str) -> RuntimeState:
        """created, running, paused (SIGSTOPped) or stopped with its exit code."""
        if not self.directory(container_id).is_dir():
            raise NoSuchContainer(container_id)
        status = self.exit_status(container_id)
        if status is not None:
            return status.state(container_id)
        pid = self.pid(container_id)
        if not pid:
            return RuntimeState(id=container_id, status="created")
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            # Gone without an exit file: the monitor itself died.
            return RuntimeState(id=container_id, status="stopped")
        paused = stat.rsplit(")", 1)[1].split()[0] == "T"
        return RuntimeState(id=container_id, status="paused" if paused else "running", pid=pid)

    async def delete(self, container_id: str) -> None:
        """Kill what still runs and remove the state directory; idempotent."""
        directory = self.directory(container_id)
        if not directory.exists():
            return
        pid = self.pid(container_id)
        if pid and self.exit_status(container_id) is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with anyio.move_on_after(10):
                while self.exit_status(container_id) is None and Path(f"/proc/{pid}").exists():
                    await anyio.sleep(_POLL)
        await anyio.to_thread.run_sync(shutil.rmtree, directory, True)

    async def list(self) -> list[RuntimeState]:
        """Every container with a state directory."""
        if not self.root.is_dir():
            return []
        return [await self.state(d.name) for d in self.root.iterdir() if d.is_dir()]
