"""Live stdio: the monitor's attach socket, and the processes of ``exec``.

The attach socket is a SOCK_SEQPACKET socket in the container's directory;
each packet starts with one byte: ``i`` input for the container's stdin, ``c``
to close it, ``r`` followed by "HEIGHT WIDTH" to resize its terminal. Its path
may be longer than a socket address allows, so it is reached through
``/proc/self/fd/N/attach`` of the opened directory.

An ``exec`` runs ``lxc-attach`` as our child: with pipes, or on a terminal of
ours (its controlling terminal) that lxc-attach proxies to one it opens in the
container. lxc-attach
does not forward signals, so ``kill`` signals the attached process itself
(lxc-attach's child).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import termios
import tty
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import anyio
import anyio.abc

from pouch.procio import PipeProcess, PtyProcess, close_socket, connect_attach_socket

__all__ = ["AttachSocket", "start_exec"]

Chunk = tuple[Literal["stdout", "stderr"], bytes]
_PACKET = 32768


class AttachSocket:
    """A connection to the monitor; output comes from the log, not from here."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    def connect(cls, directory: Path) -> AttachSocket:
        return cls(connect_attach_socket(directory))

    async def _send(self, packet: bytes) -> None:
        while True:
            await anyio.wait_writable(self._sock)
            try:
                self._sock.send(packet)
                return
            except BlockingIOError:
                continue

    async def write(self, data: bytes) -> None:
        for start in range(0, len(data), _PACKET):
            await self._send(b"i" + data[start : start + _PACKET])

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            await self._send(b"c")

    async def output(self) -> AsyncIterator[Chunk]:
        return
        yield  # the engine reads the container's output from its log

    async def resize(self, height: int, width: int) -> None:
        await self._send(f"r{height} {width}".encode())

    async def aclose(self) -> None:
        close_socket(self._sock)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


class _PipeExec(PipeProcess):
    async def kill(self, signal: int) -> None:
        # lxc-attach passes no signal on: reach the process it runs in the container.
        await _kill_children(self._proc, signal)


class _TtyExec(PtyProcess):
    async def kill(self, signal: int) -> None:
        await _kill_children(self._proc, signal)


async def _kill_children(proc: anyio.abc.Process, signal: int) -> None:
    for pid in _children(proc.pid) or [proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal)


async def start_exec(
    command: list[str],
    env: dict[str, str],
    *,
    terminal: bool,
    size: tuple[int, int] | None,
    setsid: str = "setsid",
) -> PipeProcess:
    """Start ``command`` (an lxc-attach command line) with ``env`` as its environment.

    With a terminal, lxc-attach proxies between a terminal it opens in the
    container and its *controlling* terminal (it opens /dev/tty), so it runs
    through ``setsid --ctty`` in a session of its own with ours as that terminal.
    """
    if not terminal:
        return _PipeExec(await anyio.open_process(command, env=env))
    master, slave = os.openpty()
    # Raw: the container's own terminal does the line discipline (echo, CRLF).
    tty.setraw(slave)
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    try:
        proc = await anyio.open_process(
            [setsid, "--ctty", *command], env=env, stdin=slave, stdout=slave, stderr=slave
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return _TtyExec(proc, master)
