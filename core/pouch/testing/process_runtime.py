"""A runtime that runs a container's command as a plain host process — for tests.

It gives no isolation at all (no namespaces, no cgroups, no root filesystem:
the command runs on the host with the spec's environment), so it is never
installed as a plugin; tests register it by hand. What it does do for real is
everything the engine relies on: a monitor per container that outlives the
engine (``pouch.testing._monitor``), exit codes in files, logs in the CRI
format, signals, pause by SIGSTOP, exec. That lets the core's own tests and the
conformance suite exercise the engine without root or a runtime binary.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.abc

from pouch.config import EngineConfig
from pouch.drivers import (
    Capability,
    DriverInfo,
    ExecProcess,
    ExitStatus,
    RuntimeContainer,
    RuntimeState,
    Stats,
    StdioStream,
)
from pouch.errors import Conflict, NoSuchContainer, NotSupported
from pouch.markers import hookimpl
from pouch.oci import LinuxResources, Process
from pouch.procio import PipeProcess

__all__ = ["ProcessRuntime", "ProcessRuntimePlugin"]

_POLL = 0.02


class ProcessRuntime:
    name = "process"

    def __init__(self, state_root: Path) -> None:
        self.root = state_root

    def describe(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            version="test",
            capabilities=[Capability.EXEC, Capability.PAUSE, Capability.RESTORE, Capability.STATS],
            details={"isolation": "none (test runtime)"},
        )

    def _dir(self, container_id: str) -> Path:
        return self.root / container_id

    def _pid(self, container_id: str) -> int:
        try:
            return int((self._dir(container_id) / "pid").read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def _exit(self, container_id: str) -> ExitStatus | None:
        try:
            data = json.loads((self._dir(container_id) / "exit").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return ExitStatus(exit_code=data["exit_code"], finished_at=data["finished_at"])

    async def create(self, container: RuntimeContainer) -> RuntimeState:
        process = container.spec.process
        if process is None:
            raise ValueError("spec has no process")
        directory = self._dir(container.id)
        directory.mkdir(parents=True)
        (directory / "process.json").write_text(
            json.dumps(
                {
                    "args": process.args,
                    "env": process.env,
                    "cwd": process.cwd,
                    "log_path": str(container.log_path),
                    "log_max_size": container.log_max_size,
                }
            )
        )
        return RuntimeState(id=container.id, status="created")

    async def start(self, container_id: str) -> RuntimeState:
        directory = self._dir(container_id)
        if not (directory / "process.json").exists():
            raise NoSuchContainer(container_id)
        if self._pid(container_id):
            raise Conflict(f"container {container_id[:12]} was already started")
        await anyio.run_process(
            [sys.executable, "-m", "pouch.testing._monitor", str(directory)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            stdout=subprocess.DEVNULL,
            stderr=None,
        )
        with anyio.fail_after(10):
            while not (pid := self._pid(container_id)):
                await anyio.sleep(_POLL)
        return RuntimeState(id=container_id, status="running", pid=pid)

    async def kill(self, container_id: str, signal: int) -> None:
        pid = self._pid(container_id)
        if pid and self._exit(container_id) is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal)

    async def wait(self, container_id: str) -> ExitStatus:
        while True:
            status = self._exit(container_id)
            if status is not None:
                return status
            if not self._dir(container_id).exists():
                raise NoSuchContainer(container_id)
            await anyio.sleep(_POLL)

    async def state(self, container_id: str) -> RuntimeState:
        if not self._dir(container_id).is_dir():
            raise NoSuchContainer(container_id)
        status = self._exit(container_id)
        pid = self._pid(container_id)
        if status is not None:
            return RuntimeState(
                id=container_id,
                status="stopped",
                exit_code=status.exit_code,
                finished_at=status.finished_at,
            )
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
        directory = self._dir(container_id)
        if not directory.exists():
            return
        pid = self._pid(container_id)
        if pid and self._exit(container_id) is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with anyio.move_on_after(10):
                while self._exit(container_id) is None and Path(f"/proc/{pid}").exists():
                    await anyio.sleep(_POLL)
        await anyio.to_thread.run_sync(shutil.rmtree, directory, True)

    async def list(self) -> list[RuntimeState]:
        if not self.root.is_dir():
            return []
        return [await self.state(d.name) for d in self.root.iterdir() if d.is_dir()]

    async def _signal_group(self, container_id: str, sig: int) -> None:
        pid = self._pid(container_id)
        if not pid or self._exit(container_id) is not None:
            raise Conflict(f"container {container_id[:12]} is not running")
        os.killpg(pid, sig)

    async def pause(self, container_id: str) -> None:
        await self._signal_group(container_id, signal.SIGSTOP)

    async def resume(self, container_id: str) -> None:
        await self._signal_group(container_id, signal.SIGCONT)

    async def update(self, container_id: str, resources: LinuxResources) -> None:
        raise NotSupported("the process test runtime enforces no resource limits")

    async def exec(self, container_id: str, exec_id: str, process: Process) -> ExecProcess:
        if not self._pid(container_id) or self._exit(container_id) is not None:
            raise Conflict(f"container {container_id[:12]} is not running")
        cwd = process.cwd if os.path.isdir(process.cwd) else "/"
        proc = await anyio.open_process(
            process.args,
            env=dict(item.split("=", 1) for item in process.env if "=" in item),
            cwd=cwd,
        )
        return PipeProcess(proc)

    async def attach(self, container_id: str) -> StdioStream:
        raise NotSupported("the process test runtime gives containers no stdin")

    async def resize(self, container_id: str, height: int, width: int) -> None:
        raise NotSupported("the process test runtime has no terminals")

    async def stats(self, container_id: str) -> Stats:
        pid = self._pid(container_id)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (FileNotFoundError, ValueError, IndexError):
            raise Conflict(f"container {container_id[:12]} is not running") from None
        ticks = os.sysconf("SC_CLK_TCK")
        cpu_ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // ticks
        return Stats(
            read_at=time.time(),
            cpu_usage_ns=cpu_ns,
            memory_usage=rss_pages * os.sysconf("SC_PAGE_SIZE"),
            pids=1,
        )


class ProcessRuntimePlugin:
    """Register with ``Engine(config, plugins=[("process", ProcessRuntimePlugin(config))])``."""

    def __init__(self, config: EngineConfig) -> None:
        self.runtime = ProcessRuntime(config.run_root / "process")

    @hookimpl
    def pouch_add_runtimes(self, config: EngineConfig) -> list[ProcessRuntime]:
        return [self.runtime]
