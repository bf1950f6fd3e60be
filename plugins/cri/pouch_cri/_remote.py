"""Exec, attach and port-forward sessions, whatever carries their channels.

``run_exec`` starts the process once the client's channels are there, copies
stdin, terminal sizes and output, and ends with the exit status on the error
channel. ``run_attach`` does the same with a container's main process and
ends when it exits or the client leaves. ``connect_in_netns`` opens a TCP
connection to a port inside a pod's network namespace for port forwarding.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

import anyio
import anyio.abc

from pouch.engine import Engine
from pouch.errors import PouchError
from pouch.models import ExecConfig

from ._channels import Channels, exit_status

__all__ = ["connect_in_netns", "run_attach", "run_exec"]

CLONE_NEWNET = 0x40000000
#: how long an exec on a terminal waits for the client's first size.
_FIRST_SIZE_WAIT = 1.0
_libc = ctypes.CDLL(None, use_errno=True)


class _Target(Protocol):
    """An exec'd process or an attachment: what a session copies to and from."""

    def output(self) -> AsyncIterator[tuple[Literal["stdout", "stderr"], bytes]]: ...
    async def write(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def resize(self, height: int, width: int) -> None: ...


async def _copy(target: _Target, channels: Channels, *, stdin: bool, tty: bool) -> None:
    """Copy until the target's output ends or the client goes away."""

    async def send_input() -> None:
        while data := await channels.read_stdin():
            await target.write(data)
        with contextlib.suppress(PouchError, OSError, anyio.BrokenResourceError):
            await target.close_stdin()

    async def send_sizes() -> None:
        while (size := await channels.read_size()) is not None:
            width, height = size
            if width and height:
                await target.resize(height, width)

    async def client_gone(scope: anyio.CancelScope) -> None:
        await channels.wait_closed()
        scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(client_gone, group.cancel_scope)
        if stdin:
            group.start_soon(send_input)
        if tty:
            group.start_soon(send_sizes)
        async for stream, data in target.output():
            await channels.write("stdout" if tty else stream, data)
        group.cancel_scope.cancel()


async def run_exec(engine: Engine, request: Any, channels: Channels) -> None:
    size = None
    if request.tty:  # clients send the terminal's size first: the process starts with it
        with anyio.move_on_after(_FIRST_SIZE_WAIT):
            size = await channels.read_size()
    console = (size[1], size[0]) if size is not None and size[0] and size[1] else None
    config = ExecConfig(
        cmd=list(request.cmd), tty=request.tty, stdin=request.stdin, console_size=console
    )
    try:
        _, process = await engine.exec(request.container_id, config)
    except PouchError as error:
        await channels.finish(exit_status(None, str(error)))
        return
    try:
        if size is not None and size[0] and size[1]:
            await process.resize(size[1], size[0])
        if not request.stdin and not request.tty:
            await process.close_stdin()
        await _copy(process, channels, stdin=request.stdin, tty=request.tty)
        with anyio.move_on_after(10):
            code = await process.wait()
            await channels.finish(exit_status(code))
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await process.aclose()


async def run_attach(engine: Engine, request: Any, channels: Channels) -> None:
    try:
        async with engine.attach(request.container_id, stdin=request.stdin) as attached:
            await _copy(attached, channels, stdin=request.stdin, tty=request.tty)
    except PouchError as error:
        await channels.finish(exit_status(None, str(error)))
        return
    await channels.finish(exit_status(0))


def _socket_in(netns: str) -> socket.socket:
    """A TCP socket made inside the namespace at ``netns`` (the calling thread
    enters it and comes back; the socket stays in the namespace it was made in)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"entering {netns}: {os.strerror(errno)}")
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:  # a thread left elsewhere must not run on
                os._exit(70)
    finally:
        os.close(target)
        os.close(home)


async def connect_in_netns(netns: str, port: int) -> anyio.abc.SocketStream:
    """A connection to ``localhost:port`` inside the network namespace ``netns``."""
    sock = await anyio.to_thread.run_sync(_socket_in, netns)
    try:
        sock.settimeout(10)
        await anyio.to_thread.run_sync(sock.connect, ("127.0.0.1", port))
        sock.setblocking(False)
        return await anyio.abc.SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise
