"""``exec -t`` through a console socket: the runtime hands us the terminal's master.

Left to proxy a terminal itself, the runtime copies between the container's
terminal and its own, and its own messages (crun logs in colour when its
stderr is a terminal) land in the same stream as the process's output. With
``--console-socket`` it sends the master side of the container's terminal
over a unix socket and only waits for the process: the output is the
process's alone, a resize is a window-size change on the master (the kernel
signals the process), and the runtime's own errors come on its stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import anyio.abc

from pouch.errors import PouchError
from pouch.procio import Chunk, PipeProcess, PtyProcess

__all__ = ["start_terminal_exec"]

_HANDOVER_TIMEOUT = 30.0


class ConsoleProcess(PtyProcess):
    """The exec's terminal master, received from the runtime, and the runtime's stderr."""

    async def output(self) -> AsyncIterator[Chunk]:
        async for chunk in super().output():
            yield chunk
        stderr = self._proc.stderr
        if stderr is None:
            return
        with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
            while True:
                yield "stderr", await stderr.receive()

    async def resize(self, height: int, width: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def _accept(listener: socket.socket, proc: anyio.abc.Process) -> socket.socket | None:
    """The runtime's connection; None when it exits without making one."""
    with anyio.fail_after(_HANDOVER_TIMEOUT):
        while proc.returncode is None:
            with anyio.move_on_after(0.05):
                await anyio.wait_readable(listener)
            with contextlib.suppress(BlockingIOError):
                conn, _ = listener.accept()
                return conn
    return None


async def _receive_fd(conn: socket.socket) -> int:
    conn.setblocking(False)
    with anyio.fail_after(_HANDOVER_TIMEOUT):
        while True:
            await anyio.wait_readable(conn)
            with contextlib.suppress(BlockingIOError):
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                if not fds:
                    raise PouchError("the runtime sent no terminal over the console socket")
                return fds[0]


async def start_terminal_exec(
    command: list[str], container_id: str, on_exit: Callable[[], None]
) -> PipeProcess:
    """Run ``command --console-socket S container_id``; keep the terminal it sends."""
    directory = Path(tempfile.mkdtemp(prefix="pouch-console-"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path = directory / "sock"
        listener.bind(str(path))
        listener.listen(1)
        listener.setblocking(False)
        proc = await anyio.open_process(
            [*command, "--console-socket", str(path), container_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        try:
            conn = await _accept(listener, proc)
            if conn is None:  # it failed first: its stderr says why, its code is the exit
                return PipeProcess(proc, on_exit=on_exit)
            with conn:
                master = await _receive_fd(conn)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with anyio.CancelScope(shield=True):
                await proc.aclose()
            raise
        return ConsoleProcess(proc, master, on_exit=on_exit)
    finally:
        listener.close()
        shutil.rmtree(directory, ignore_errors=True)
