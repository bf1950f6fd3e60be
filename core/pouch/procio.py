"""``PipeProcess`` and ``PtyProcess``: an ``ExecProcess`` over a child's pipes or pty.

Runtimes whose exec is a local command (``runc exec``, ``lxc-attach``, a host
process) share it: stdin is the child's, output merges stdout and stderr as
they come, and the exit code follows the shell's 128+N rule for signals.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import struct
import termios
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Literal

import anyio
import anyio.abc

from pouch.errors import Conflict

__all__ = ["Chunk", "PipeProcess", "PtyProcess", "close_socket", "connect_attach_socket"]

Chunk = tuple[Literal["stdout", "stderr"], bytes]


Stream = Literal["stdout", "stderr"]


async def _read_round(
    streams: dict[Stream, anyio.abc.ByteReceiveStream],
) -> tuple[list[Chunk], list[Stream]]:
    """Read every stream at once until one has data or ends: (chunks, ended streams)."""
    ready: list[Chunk] = []
    ended: list[Stream] = []
    async with anyio.create_task_group() as tg:

        async def read(name: Stream) -> None:
            try:
                ready.append((name, await streams[name].receive()))
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                ended.append(name)
            tg.cancel_scope.cancel()

        for name in streams:
            tg.start_soon(read, name)
    return ready, ended


class PipeProcess:
    def __init__(
        self, proc: anyio.abc.Process, *, on_exit: Callable[[], None] | None = None
    ) -> None:
        self._proc = proc
        self._on_exit = on_exit
        # Where the runtime wrote the PID of the process it started for us
        # (``runc exec --pid-file``): signals go there, not to the runtime's
        # own process, which cannot pass SIGKILL on.
        self.pid_file: Path | None = None

    async def write(self, data: bytes) -> None:
        if self._proc.stdin is not None:
            await self._proc.stdin.send(data)

    async def close_stdin(self) -> None:
        if self._proc.stdin is not None:
            await self._proc.stdin.aclose()

    async def output(self) -> AsyncIterator[Chunk]:
        """Chunks of stdout and stderr as they come, until both have ended.

        Each round reads both pipes at once in a task group that is closed
        before anything is yielded: a consumer that stops iterating half-way
        (a client gone) must not leave a scope of ours open in its task. A
        read cut short by the other pipe's data loses nothing (the bytes stay
        in the pipe's buffer for the next round).
        """
        streams: dict[Stream, anyio.abc.ByteReceiveStream] = {}
        if self._proc.stdout is not None:
            streams["stdout"] = self._proc.stdout
        if self._proc.stderr is not None:
            streams["stderr"] = self._proc.stderr
        while streams:
            ready, ended = await _read_round(streams)
            for name in ended:
                del streams[name]
            for chunk in ready:
                yield chunk

    async def resize(self, height: int, width: int) -> None:
        return None  # pipes have no window size

    async def wait(self) -> int:
        code = await self._proc.wait()
        if self._on_exit is not None:
            self._on_exit()
        return 128 - code if code < 0 else code

    async def kill(self, signal: int) -> None:
        target = self._proc.pid
        if self.pid_file is not None and self._proc.returncode is None:
            with contextlib.suppress(OSError, ValueError):
                target = int(self.pid_file.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal)

    async def aclose(self) -> None:
        await self._proc.aclose()


class PtyProcess(PipeProcess):
    """An ``ExecProcess`` on a terminal: ``master`` is our side of the process's pty.

    Input and output go through the master; end of input is the terminal's ^D;
    a resize sets the window size and sends SIGWINCH to the child, which (as
    ``runc exec`` or ``lxc-attach`` do) copies it to the container's terminal.
    """

    def __init__(
        self, proc: anyio.abc.Process, master: int, *, on_exit: Callable[[], None] | None = None
    ) -> None:
        super().__init__(proc, on_exit=on_exit)
        self._master = master
        os.set_blocking(master, False)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            await anyio.wait_writable(self._master)
            with contextlib.suppress(BlockingIOError):
                view = view[os.write(self._master, view) :]

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            await self.write(b"\x04")

    async def output(self) -> AsyncIterator[Chunk]:
        while True:
            await anyio.wait_readable(self._master)
            try:
                data = os.read(self._master, 65536)
            except BlockingIOError:
                continue
            except OSError:  # EIO once the last process on the terminal has gone
                return
            if not data:
                return
            yield "stdout", data

    async def resize(self, height: int, width: int) -> None:
        fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGWINCH)

    async def aclose(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._master)
        await super().aclose()


def close_socket(sock: socket.socket) -> None:
    """Close ``sock``, first waking a task that waits on it (it gets ClosedResourceError)."""
    notify = getattr(anyio, "notify_closing", None)  # anyio >= 4.4
    if notify is not None and sock.fileno() >= 0:
        notify(sock)
    sock.close()


def connect_attach_socket(directory: Path, name: str = "attach") -> socket.socket:
    """Connect (non-blocking) to a monitor's SOCK_SEQPACKET socket ``directory/name``.

    The path may be longer than a socket address allows, so it is reached
    through ``/proc/self/fd/N/<name>`` of the opened directory, as conmon binds it.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        fd = os.open(directory, os.O_PATH)
    except FileNotFoundError:
        sock.close()
        raise Conflict("the container is not running") from None
    try:
        sock.connect(f"/proc/self/fd/{fd}/{name}")
    except OSError as exc:
        sock.close()
        raise Conflict(f"cannot attach: {exc.strerror}") from None
    finally:
        os.close(fd)
    sock.setblocking(False)
    return sock
