"""``PipeProcess``: an ``ExecProcess`` over a child process's pipes.

Runtimes whose exec is a local command (``runc exec``, ``lxc-attach``, a host
process) share it: stdin is the child's, output merges stdout and stderr as
they come, and the exit code follows the shell's 128+N rule for signals.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Literal

import anyio
import anyio.abc

__all__ = ["Chunk", "PipeProcess"]

Chunk = tuple[Literal["stdout", "stderr"], bytes]


class PipeProcess:
    def __init__(
        self, proc: anyio.abc.Process, *, on_exit: Callable[[], None] | None = None
    ) -> None:
        self._proc = proc
        self._on_exit = on_exit

    async def write(self, data: bytes) -> None:
        if self._proc.stdin is not None:
            await self._proc.stdin.send(data)

    async def close_stdin(self) -> None:
        if self._proc.stdin is not None:
            await self._proc.stdin.aclose()

    async def output(self) -> AsyncIterator[Chunk]:
        send, receive = anyio.create_memory_object_stream[Chunk](16)

        async def pump(
            name: Literal["stdout", "stderr"], stream: anyio.abc.ByteReceiveStream | None
        ) -> None:
            if stream is not None:
                async for chunk in stream:
                    await send.send((name, chunk))

        async def both() -> None:
            async with send, anyio.create_task_group() as inner:
                inner.start_soon(pump, "stdout", self._proc.stdout)
                inner.start_soon(pump, "stderr", self._proc.stderr)

        async with anyio.create_task_group() as tg:
            tg.start_soon(both)
            async with receive:
                async for item in receive:
                    yield item

    async def resize(self, height: int, width: int) -> None:
        return None  # pipes have no window size

    async def wait(self) -> int:
        code = await self._proc.wait()
        if self._on_exit is not None:
            self._on_exit()
        return 128 - code if code < 0 else code

    async def kill(self, signal: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal)

    async def aclose(self) -> None:
        await self._proc.aclose()
