"""A runtime that runs a container's command as a plain host process — for tests.

It gives no isolation at all (no namespaces, no cgroups, no root filesystem:
the command runs on the host with the spec's environment), so it is never
installed as a plugin; tests register it by hand. What it does do for real is
everything the engine relies on: a monitor per container that outlives the
engine (``pouch.monitor``), exit codes in files, logs in the CRI
format, signals, pause by SIGSTOP, exec. That lets the core's own tests and the
conformance suite exercise the engine without root or a runtime binary.
"""

from __future__ import annotations

import os
import signal
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
from pouch.errors import Conflict, NotSupported
from pouch.markers import hookimpl
from pouch.monitor import Monitors
from pouch.oci import LinuxResources, Process
from pouch.procio import PipeProcess

__all__ = ["ProcessRuntime", "ProcessRuntimePlugin"]


class ProcessRuntime:
    name = "process"

    def __init__(self, state_root: Path) -> None:
        self.root = state_root
        self.monitors = Monitors(state_root)

    def describe(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            version="test",
            capabilities=[
                Capability.EXEC,
                Capability.LOG_ROTATION,
                Capability.PAUSE,
                Capability.RESTORE,
                Capability.STATS,
            ],
            details={"isolation": "none (test runtime)"},
        )

    async def create(self, container: RuntimeContainer) -> RuntimeState:
        process = container.spec.process
        if process is None:
            raise ValueError("spec has no process")
        return self.monitors.prepare(
            container.id,
            process.args,
            env=process.env,
            cwd=process.cwd,
            log_path=container.log_path,
            log_max_size=container.log_max_size,
            log_max_files=container.log_max_files,
        )

    async def start(self, container_id: str) -> RuntimeState:
        return await self.monitors.start(container_id)

    async def kill(self, container_id: str, signal: int) -> None:
        await self.monitors.kill(container_id, signal)

    async def wait(self, container_id: str) -> ExitStatus:
        return await self.monitors.wait(container_id)

    async def state(self, container_id: str) -> RuntimeState:
        return await self.monitors.state(container_id)

    async def delete(self, container_id: str) -> None:
        await self.monitors.delete(container_id)

    async def list(self) -> list[RuntimeState]:
        return await self.monitors.list()

    async def pause(self, container_id: str) -> None:
        await self.monitors.signal_group(container_id, signal.SIGSTOP)

    async def resume(self, container_id: str) -> None:
        await self.monitors.signal_group(container_id, signal.SIGCONT)

    async def update(self, container_id: str, resources: LinuxResources) -> None:
        raise NotSupported("the process test runtime enforces no resource limits")

    async def exec(self, container_id: str, exec_id: str, process: Process) -> ExecProcess:
        if not self.monitors.running(container_id):
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
        pid = self.monitors.pid(container_id)
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
