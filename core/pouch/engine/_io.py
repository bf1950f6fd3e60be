"""Processes in and output of a running container: exec, logs, stats.

``ContainerIO`` starts extra processes in a running container (``exec``,
and ``top``, which runs the container's own ``ps``),
reads its log (every runtime's monitor writes one, so ``logs`` is the same
code for all) and samples its resource usage. It changes no container state.
"""

from __future__ import annotations

import builtins
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec

from pouch import oci
from pouch.drivers import Capability, ExecProcess, LogReopener, Stats
from pouch.engine._containers import require
from pouch.engine._exec_process import exec_process
from pouch.engine._records import ACTIVE, Records
from pouch.engine._top import host_top, parse_ps
from pouch.errors import Conflict, NotSupported, PouchError
from pouch.kernel import Kernel
from pouch.logs import LogRecord, read_logs
from pouch.models import Container, ExecConfig, State
from pouch.telemetry import operation

__all__ = ["ContainerIO"]


class ContainerIO:
    def __init__(self, kernel: Kernel, records: Records) -> None:
        self.kernel = kernel
        self.records = records

    async def exec(self, ref: str, config: ExecConfig) -> tuple[str, ExecProcess]:
        """Start a process in a running container; the caller owns the returned process."""
        container = self.records.lookup(ref)
        if container.state.status != State.RUNNING:
            raise Conflict(f"container {container.name} is {container.state.status}, not running")
        runtime = self.kernel.runtimes.get(container.runtime)
        require(runtime, Capability.EXEC)
        spec = msgspec.json.decode(container.spec, type=oci.Spec)
        process = exec_process(spec, config)
        exec_id = secrets.token_hex(32)
        with operation("container.exec", container_id=container.id, runtime=runtime.name):
            proc = await runtime.exec(container.id, exec_id, process)
        self.records.publish(container, "exec_start", execID=exec_id)
        return exec_id, proc

    async def exec_run(
        self, ref: str, cmd: builtins.list[str], **options: Any
    ) -> tuple[int, bytes, bytes]:
        """Run ``cmd`` to completion; return (exit code, stdout, stderr)."""
        config = ExecConfig(cmd=cmd, **options)
        _, proc = await self.exec(ref, config)
        out: dict[str, builtins.list[bytes]] = {"stdout": [], "stderr": []}
        if not config.tty:
            await proc.close_stdin()  # nothing to send: the process sees end of input
        async for stream, chunk in proc.output():
            out[stream].append(chunk)
        code = await proc.wait()
        return code, b"".join(out["stdout"]), b"".join(out["stderr"])

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        since: float = 0.0,
        until: float = 0.0,
        tail: int | None = None,
    ) -> AsyncIterator[LogRecord]:
        """The container's log records; refused at once (before any output) when
        its log driver keeps none to read."""
        container = self.records.lookup(ref)
        if container.config.log_driver == "none":
            # docker's words, which its clients know
            raise NotSupported("configured logging driver does not support reading")
        return self._read_logs(container, follow=follow, since=since, until=until, tail=tail)

    async def _read_logs(
        self, container: Container, *, follow: bool, since: float, until: float, tail: int | None
    ) -> AsyncIterator[LogRecord]:
        async def running() -> bool:
            current = self.records.get(container.id)
            return current is not None and current.state.status in ACTIVE

        async for record in read_logs(
            Path(container.log_path),
            follow=follow,
            since=since,
            until=until,
            tail=tail,
            running=running,
        ):
            yield record

    async def stats(self, ref: str) -> Stats:
        container = self.records.lookup(ref)
        if container.state.status not in (State.RUNNING, State.PAUSED):
            raise Conflict(f"container {container.name} is not running")
        runtime = self.kernel.runtimes.get(container.runtime)
        require(runtime, Capability.STATS)
        return await runtime.stats(container.id)

    async def reopen_log(self, ref: str) -> None:
        """Open the log file anew at the container's log path (after its owner moved
        it away): the file exists when this returns, and new output goes there."""
        container = self.records.lookup(ref)
        if container.state.status not in (State.RUNNING, State.PAUSED):
            raise Conflict(f"container {container.name} is not running")
        path = Path(container.log_path)
        await anyio.to_thread.run_sync(_create_log, path)
        runtime = self.kernel.runtimes.get(container.runtime)
        if isinstance(runtime, LogReopener):
            await runtime.reopen_log(container.id)

    async def top(
        self, ref: str, ps_args: builtins.list[str]
    ) -> tuple[builtins.list[str], builtins.list[builtins.list[str]]]:
        """The container's processes (titles, rows): the host's ``ps`` filtered to the
        container, else ``ps`` inside it less that ``ps`` itself."""
        container = self.records.lookup(ref)
        if container.state.status not in (State.RUNNING, State.PAUSED):
            raise Conflict(f"container {container.name} is not running")
        if container.state.pid:
            found = await anyio.to_thread.run_sync(host_top, container.state.pid, ps_args)
            if found is not None:
                return found
        runtime = self.kernel.runtimes.get(container.runtime)
        if Capability.EXEC not in runtime.describe().capabilities:
            raise Conflict(
                f"the host cannot see the processes of {container.name}, and the"
                f" {runtime.name} runtime cannot exec ps in it"
            )
        command = ["ps", *(ps_args or ["-ef"])]
        try:
            code, out, err = await self.exec_run(container.id, command)
            if code != 0 and not ps_args:  # a ps without -e/-f (busybox's minimal one)
                command = ["ps"]
                code, out, err = await self.exec_run(container.id, command)
        except PouchError:
            raise
        except Exception as exc:
            raise Conflict(f"cannot run ps in container {container.name}: {exc}") from exc
        if code != 0:
            message = err.decode(errors="replace")
            raise Conflict(f"ps failed in container {container.name}: {message}")
        titles, rows = parse_ps(out.decode(errors="replace"), None)
        if not titles:
            raise Conflict(f"ps printed nothing in container {container.name}")
        mine = " ".join(command)
        return titles, [row for row in rows if not row or row[-1].strip() != mine]


def _create_log(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640))
