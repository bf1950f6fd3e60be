"""The VM's monitor on the host, ``python -m pouch_kata.shim DIR``: what conmon is to runc.

It holds the agent's one connection for the VM's life, whether the engine
runs or not: the container's output goes to its log as it comes, its exit
code to ``exit.json``; then it powers the VM off and tears it down. The
engine talks to the agent through it (``shim.sock``, one connection at a
time): frames pass both ways unchanged, except the main process's output,
which the log has.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import anyio
import anyio.abc
import msgspec
from anyio.streams.buffered import BufferedByteReceiveStream

from pouch.logs import LogWriter

from . import _agent_protocol as proto
from ._guest import SHIM_SOCKET, GuestDir

__all__ = ["main"]
# The exit code of a process whose VM went away (killed with it, as by SIGKILL).
_VANISHED = 137
# Request ids of the shim's own (the engine's count up from 1).
_OWN_ID = 1 << 52
# How a stream of frames ends: closed, cut mid-frame, or a frame too large.
_STREAM_ENDED = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
    ValueError,
)


class _Peek(msgspec.Struct):
    type: str = ""
    process: str = ""
    stream: str = "stdout"
    data: bytes = b""
    code: int = 0
    oom: bool = False


async def _frame(reader: BufferedByteReceiveStream) -> bytes:
    header = await reader.receive_exactly(proto.HEADER.size)
    (size,) = proto.HEADER.unpack(header)
    if size > proto.MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes")
    return header + await reader.receive_exactly(size)


class Shim:
    def __init__(self, guest: GuestDir) -> None:
        self.guest = guest
        meta = guest.meta()
        if meta is None:
            raise SystemExit(f"{guest.path}: no meta.json")
        self.container_id = meta.container_id
        self.log = LogWriter(
            Path(meta.log_path), max_size=meta.log_max_size, max_files=meta.log_max_files
        )
        self.engine: anyio.abc.ByteStream | None = None
        self.decoder = msgspec.json.Decoder(_Peek)
        self.agent: anyio.abc.ByteStream | None = None
        self.send_lock = anyio.Lock()

    async def run(self) -> None:
        path = self.guest.path / SHIM_SOCKET
        path.unlink(missing_ok=True)
        self.agent = await anyio.connect_unix(str(self.guest.path / "agent.sock"))
        # Listening before the name appears: whoever sees it can connect.
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        listener = await anyio.create_unix_listener(str(partial))
        partial.rename(path)
        code: int | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, self._serve_engine)
            try:
                code = await self._from_agent()
            finally:
                tg.cancel_scope.cancel()
        if self.guest.exit() is None:
            if code is None:
                self.guest.write_lost(_VANISHED)
            else:
                self.guest.write_exit(code)
        self.log.close()
        with anyio.move_on_after(5), contextlib.suppress(Exception):
            request = proto.Shutdown()
            request.id = _OWN_ID
            await self._to_agent(proto.frame(msgspec.json.encode(request)))

    async def _to_agent(self, frame: bytes) -> None:
        assert self.agent is not None
        async with self.send_lock:
            await self.agent.send(frame)

    async def _from_agent(self) -> int | None:
        """Relay until the main process exits (its code) or the VM goes (None)."""
        assert self.agent is not None
        reader = BufferedByteReceiveStream(self.agent)
        while True:
            try:
                frame = await _frame(reader)
            except _STREAM_ENDED:
                return None  # the agent's stream ended: the VM went away
            try:
                peek = self.decoder.decode(frame[proto.HEADER.size :])
            except msgspec.DecodeError:
                continue
            mine = peek.process == self.container_id
            if peek.type == "output" and mine:
                self.log.write("stderr" if peek.stream == "stderr" else "stdout", peek.data)
                continue
            if peek.type == "exit" and mine:
                self.guest.write_exit(peek.code, oom=peek.oom)
            await self._to_engine(frame)
            if peek.type == "exit" and mine:
                return peek.code

    async def _to_engine(self, frame: bytes) -> None:
        engine = self.engine
        if engine is None:
            return
        try:
            await engine.send(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            if self.engine is engine:
                self.engine = None

    async def _serve_engine(self, stream: anyio.abc.ByteStream) -> None:
        previous, self.engine = self.engine, stream
        if previous is not None:
            await previous.aclose()
        reader = BufferedByteReceiveStream(stream)
        try:
            while True:
                await self._to_agent(await _frame(reader))
        except _STREAM_ENDED:
            pass  # the engine went away: the next connection takes over
        finally:
            if self.engine is stream:
                self.engine = None
            await stream.aclose()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pouch_kata.shim VM_DIRECTORY", file=sys.stderr)
        return 2
    directory = Path(args[0])
    guest = GuestDir(directory, "")
    (directory / "shim.pid").write_text(str(os.getpid()))
    anyio.run(Shim(guest).run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
