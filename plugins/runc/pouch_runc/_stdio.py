"""Live stdio: conmon's attach socket, and the processes of ``exec``.

The attach socket is a SOCK_SEQPACKET socket in the bundle; what we send
becomes the container's stdin, and shutting our side down closes it. Its path
can be longer than a socket address allows, so it is reached through
``/proc/self/fd/N/attach`` of the opened directory, as conmon binds it.

An ``exec`` runs the runtime's ``exec`` as our child: with pipes, or on a
terminal: the container's own, handed over a console socket where the runtime
can (crun), else one of ours that the runtime proxies to it (runc).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.abc

from pouch.procio import Chunk, PipeProcess, PtyProcess, close_socket, connect_attach_socket
from pouch_runc._console import start_terminal_exec

__all__ = ["AttachSocket", "start_exec"]


class AttachSocket:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    async def connect(cls, bundle: Path) -> AttachSocket:
        return cls(connect_attach_socket(bundle))

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            await anyio.wait_writable(self._sock)
            sent = self._sock.send(view[:32768])
            view = view[sent:]

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def output(self) -> AsyncIterator[Chunk]:
        while True:
            await anyio.wait_readable(self._sock)
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            # conmon prefixes each packet with the stream: 2 stdout, 3 stderr.
            yield ("stderr" if data[0] == 3 else "stdout"), data[1:]

    async def resize(self, height: int, width: int) -> None:
        return None  # the container's terminal is resized through the ctl fifo

    async def aclose(self) -> None:
        close_socket(self._sock)


async def start_exec(
    command: list[str],
    container_id: str,
    spec: Path,
    *,
    terminal: bool,
    console_socket: bool,
) -> PipeProcess:
    """``command container_id`` as our child; on a terminal, either one the
    runtime sends over a console socket or one of ours that it proxies."""

    def on_exit() -> None:
        spec.unlink(missing_ok=True)
        spec.with_suffix(".pid").unlink(missing_ok=True)

    if terminal and console_socket:
        return await start_terminal_exec(command, container_id, on_exit)
    if not terminal:
        return PipeProcess(await anyio.open_process([*command, container_id]), on_exit=on_exit)
    master, slave = os.openpty()
    try:
        proc = await anyio.open_process(
            [*command, container_id], stdin=slave, stdout=slave, stderr=slave
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return PtyProcess(proc, master, on_exit=on_exit)
