"""Attaching to a container's main process: its output as it comes, its stdin.

``docker run`` attaches *before* it starts the container, so an attachment may
be opened on a created container and begins when the container starts.
Output is read from the container's log, which every runtime's monitor writes
whether or not anyone is attached; that way a fast container's first line is
never lost between start and attach, and the same code serves every runtime.
Input and terminal size go to the runtime's ``attach`` when it has one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import anyio
import anyio.abc

from pouch.drivers import Capability, StdioStream
from pouch.engine._records import ACTIVE, Records
from pouch.errors import Conflict, NotSupported
from pouch.events import EventFilter
from pouch.kernel import Kernel
from pouch.logs import read_logs
from pouch.models import Container, State

__all__ = ["Attached", "Attachments"]


class Attached:
    """One client's attachment: iterate ``output()``; ``write`` for stdin."""

    def __init__(self, ops: Attachments, container: Container, *, stdin: bool, logs: bool) -> None:
        self._ops = ops
        self._container = container
        self._want_stdin = stdin
        self._logs = logs
        self._stdio: StdioStream | None = None
        self._opened_at = time.time()

    async def output(self) -> AsyncIterator[tuple[Literal["stdout", "stderr"], bytes]]:
        """Output from now (or from the start, with ``logs``) until the container stops."""
        container = await self._ops.wait_until_started(self._container.id)
        if container is None:
            return
        # Output from the moment of attaching (before start, that is all of it).
        since = 0.0 if self._logs else self._opened_at

        async def running() -> bool:
            current = self._ops.records.get(container.id)
            return (
                current is not None
                and current.state.status in ACTIVE
                and (current.state.started_at == container.state.started_at)
            )

        async def pause(seconds: float) -> None:
            # An exit (or removal) ends the wait at once: the stream's end is
            # what ``docker run`` waits for before it reads the exit code.
            with anyio.move_on_after(seconds):
                await self._ops.records.changed(container.id).wait()

        async for record in read_logs(
            Path(container.log_path),
            follow=True,
            since=since,
            running=running,
            poll_interval=0.02,
            pause=pause,
        ):
            yield record.stream, record.message if record.partial else record.message + b"\n"

    async def _stdin(self) -> StdioStream:
        if not self._want_stdin:
            raise Conflict("this attachment was opened without stdin")
        if self._stdio is None:
            container = await self._ops.wait_until_started(self._container.id)
            if container is None:
                raise Conflict(f"container {self._container.name} is not running")
            runtime = self._ops.kernel.runtimes.get(container.runtime)
            if Capability.ATTACH not in runtime.describe().capabilities:
                raise NotSupported(f"the {runtime.name} runtime cannot attach to stdin")
            self._stdio = await runtime.attach(container.id)
            # The output comes from the log; what the connection carries too
            # is read and dropped (until it is closed), or a monitor that
            # copies output to every attached client (conmon) blocks once
            # nobody reads it.
            self._ops.task_group.start_soon(_drain, self._stdio)
        return self._stdio

    async def write(self, data: bytes) -> None:
        await (await self._stdin()).write(data)

    async def close_stdin(self) -> None:
        if self._want_stdin:
            await (await self._stdin()).close_stdin()

    async def resize(self, height: int, width: int) -> None:
        container = self._ops.records.get(self._container.id)
        if container is None or container.state.status not in ACTIVE:
            return
        runtime = self._ops.kernel.runtimes.get(container.runtime)
        if Capability.TTY in runtime.describe().capabilities:
            await runtime.resize(container.id, height, width)

    async def aclose(self) -> None:
        if self._stdio is not None:
            stdio, self._stdio = self._stdio, None
            await stdio.aclose()


async def _drain(stdio: StdioStream) -> None:
    try:
        async for _ in stdio.output():
            pass
    except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass


class Attachments:
    """Opens attachments to containers (``docker attach``, ``docker run`` without -d)."""

    def __init__(self, kernel: Kernel, records: Records, task_group: anyio.abc.TaskGroup) -> None:
        self.kernel = kernel
        self.records = records
        self.task_group = task_group

    async def wait_until_started(self, container_id: str) -> Container | None:
        """The container once it runs (or ran since); None if it is removed first."""
        flt = EventFilter(filters={"container": [container_id]})
        async with self.records.events.subscribe(flt) as stream:
            current = self.records.get(container_id)
            if current is None:
                return None
            if current.state.status != State.CREATED:
                return current
            async for event in stream:
                if event.action == "destroy":
                    return None
                if event.action == "start":
                    return self.records.get(container_id)
        return None

    @asynccontextmanager
    async def attach(
        self, ref: str, *, stdin: bool = False, logs: bool = False
    ) -> AsyncIterator[Attached]:
        """``async with engine.attach(id, stdin=True) as a: async for s, b in a.output(): …``

        May be opened before the container starts (as ``docker run`` does).
        """
        container = self.records.lookup(ref)
        if container.state.status == State.DEAD:
            raise Conflict(f"container {container.name} is dead")
        attached = Attached(self, container, stdin=stdin, logs=logs)
        try:
            yield attached
        finally:
            with anyio.CancelScope(shield=True):
                await attached.aclose()
