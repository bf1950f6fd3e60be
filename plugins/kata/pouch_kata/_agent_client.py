"""The host's side of the guest agent's protocol, over any anyio byte stream.

``AgentClient`` owns the stream and a task group reading it: replies are
matched to requests by id, ``output`` and ``exit`` events go to the
``AgentProcess`` they name. An error reply raises ``AgentError``; a stream
that ends or breaks (the agent died, the VM went away) fails every pending
and later call with ``AgentGone``. Both are ``pouch.errors.PouchError``s with
a message a user can read. This module knows nothing of VMs: the runtime
driver hands it a connected stream (a virtio-serial port's socket, or a unix
socket in tests).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import msgspec
from anyio.abc import ByteStream, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectSendStream

from pouch.errors import PouchError
from pouch_kata import _agent_protocol as proto

__all__ = ["AgentClient", "AgentError", "AgentGone", "AgentProcess", "collect"]

_R = TypeVar("_R")


class AgentError(PouchError):
    """The agent refused or failed a request; it keeps serving."""

    def __init__(self, request: str, message: str) -> None:
        super().__init__(f"guest agent: {request}: {message}")
        self.request = request
        self.reason = message


class AgentGone(PouchError):
    """The agent's stream ended or broke: the agent (or its VM) is gone."""


class _Pending:
    """A request waiting for its reply."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.done = anyio.Event()
        self.reply: proto.Reply | None = None
        self.error: PouchError | None = None


class AgentProcess:
    """A process in the guest as the client sees it: its output, its exit."""

    def __init__(self, client: AgentClient, process_id: str) -> None:
        self.client = client
        self.id = process_id
        self.pid = 0
        send: MemoryObjectSendStream[proto.Output]
        # Unbounded: one slow reader must not stall the stream every process shares.
        send, self.output = anyio.create_memory_object_stream[proto.Output](math.inf)
        self._send: MemoryObjectSendStream[proto.Output] | None = send
        self._exited = anyio.Event()
        self._code: int | None = None
        self._gone: AgentGone | None = None

    @property
    def code(self) -> int | None:
        """The exit code once the process has exited (128+N for signal N)."""
        return self._code

    async def wait(self) -> int:
        """Wait for the exit event and return the exit code."""
        await self._exited.wait()
        if self._code is None:
            assert self._gone is not None
            raise self._gone
        return self._code

    async def write(self, data: bytes) -> None:
        await self.client.stdin(self.id, data)

    async def close_stdin(self) -> None:
        await self.client.stdin(self.id, close=True)

    async def signal(self, signal: int) -> None:
        await self.client.signal(self.id, signal)

    async def resize(self, rows: int, cols: int) -> None:
        await self.client.resize(self.id, rows, cols)

    def _output(self, event: proto.Output) -> None:
        if self._send is not None:
            self._send.send_nowait(event)

    def _exit(self, code: int | None, gone: AgentGone | None = None) -> None:
        if self._exited.is_set():
            return
        self._code, self._gone = code, gone
        if self._send is not None:
            self._send.close()
            self._send = None
        self._exited.set()


async def collect(process: AgentProcess) -> tuple[bytes, bytes, int]:
    """All of a process's stdout and stderr, and its exit code."""
    out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    async for chunk in process.output:
        out[chunk.stream].append(chunk.data)
    code = await process.wait()
    return b"".join(out["stdout"]), b"".join(out["stderr"]), code


class AgentClient:
    """One connection to a guest agent; use it as an async context manager."""

    def __init__(
        self, stream: ByteStream, *, name: str = "guest agent", adopt: Iterable[str] = ()
    ) -> None:
        self._stream = stream
        self._name = name
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._processes: dict[str, AgentProcess] = {}
        self._send_lock = anyio.Lock()
        self._gone: AgentGone | None = None
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(proto.Incoming)
        self._tg: TaskGroup | None = None
        # Processes of an earlier connection: their events (the agent sends
        # what it kept while nobody was connected first) have somewhere to go.
        for process_id in adopt:
            self._processes[process_id] = AgentProcess(self, process_id)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect_unix(
        cls, path: Path | str, *, adopt: Iterable[str] = ()
    ) -> AsyncIterator[AgentClient]:
        """A client on the agent's unix socket at ``path``; ``adopt`` names processes
        started by an earlier connection whose output and exit it should take."""
        try:
            stream = await anyio.connect_unix(str(path))
        except OSError as error:
            raise AgentGone(f"guest agent at {path}: cannot connect: {error}") from error
        async with cls(stream, name=f"guest agent at {path}", adopt=adopt) as client:
            yield client

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._read_loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        self._fail_all(AgentGone(f"{self._name}: the connection was closed"))
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # The body's own error (AgentGone …), not a group of one around it.
            if exc is not None and list(group.exceptions) == [exc]:
                raise exc from None
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()

    def process(self, process_id: str) -> AgentProcess | None:
        """The process of that id this client knows (started or adopted)."""
        return self._processes.get(process_id)

    # -- requests ---------------------------------------------------------------

    async def version(self) -> proto.VersionResult:
        return await self._call(proto.Version(), proto.VersionResult)

    async def create(
        self,
        container: str,
        rootfs: Path | str,
        spec: proto.ProcessSpec,
        *,
        hostname: str = "",
        mounts: Sequence[proto.GuestMount] = (),
        readonly: bool = False,
        sysctls: dict[str, str] | None = None,
        resources: proto.Resources | None = None,
        masked_paths: Sequence[str] = (),
        readonly_paths: Sequence[str] = (),
    ) -> AgentProcess:
        """Create a container; its first process (id ``container``) waits for ``start``."""
        process = self._register(container)
        try:
            request = proto.Create(
                container=container,
                rootfs=str(rootfs),
                hostname=hostname,
                spec=spec,
                mounts=list(mounts),
                readonly=readonly,
                sysctls=dict(sysctls or {}),
                resources=resources,
                masked_paths=list(masked_paths),
                readonly_paths=list(readonly_paths),
            )
            process.pid = (await self._call(request, proto.PidResult)).pid
        except BaseException:
            self._processes.pop(container, None)
            raise
        return process

    async def start(self, container: str) -> int:
        return (await self._call(proto.Start(container=container), proto.PidResult)).pid

    async def exec(self, container: str, process_id: str, spec: proto.ProcessSpec) -> AgentProcess:
        """Start ``spec`` as process ``process_id`` in the container's namespaces."""
        process = self._register(process_id)
        try:
            request = proto.Exec(container=container, process=process_id, spec=spec)
            process.pid = (await self._call(request, proto.PidResult)).pid
        except BaseException:
            self._processes.pop(process_id, None)
            raise
        return process

    async def signal(self, process_id: str, signal: int) -> None:
        await self._call(proto.Signal(process=process_id, signal=signal), proto.Empty)

    async def wait(self, process_id: str) -> int:
        """The exit code, asked of the agent (works for processes of earlier connections)."""
        return (await self._call(proto.Wait(process=process_id), proto.CodeResult)).code

    async def stdin(self, process_id: str, data: bytes = b"", *, close: bool = False) -> None:
        await self._call(proto.Stdin(process=process_id, data=data, close=close), proto.Empty)

    async def resize(self, process_id: str, rows: int, cols: int) -> None:
        await self._call(proto.Resize(process=process_id, rows=rows, cols=cols), proto.Empty)

    async def update(self, container: str, resources: proto.Resources) -> None:
        await self._call(proto.Update(container=container, resources=resources), proto.Empty)

    async def stats(self, container: str) -> proto.StatsResult:
        return await self._call(proto.StatsRequest(container=container), proto.StatsResult)

    async def network(self, settings: proto.NetworkSettings) -> None:
        """Set up the guest's lo and the card ``settings`` names."""
        await self._call(proto.Network(network=settings), proto.Empty)

    async def shutdown(self) -> None:
        """Ask the agent to kill its processes and end (power the VM off)."""
        await self._call(proto.Shutdown(), proto.Empty)

    # -- machinery ----------------------------------------------------------------

    def _register(self, process_id: str) -> AgentProcess:
        # Before the request goes out: its first output may beat the reply.
        if process_id in self._processes and self._processes[process_id].code is None:
            raise AgentError("process", f"{process_id!r} is already running")
        process = AgentProcess(self, process_id)
        self._processes[process_id] = process
        return process

    def _check(self) -> None:
        if self._gone is not None:
            raise self._gone

    async def _call(self, request: proto.Request, result: type[_R]) -> _R:
        self._check()
        request.id = next(self._ids)
        kind = type(request).__struct_config__.tag
        pending = _Pending(str(kind))
        self._pending[request.id] = pending
        try:
            payload = proto.frame(self._encoder.encode(request))
            try:
                async with self._send_lock:
                    await self._stream.send(payload)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as error:
                self._fail_all(AgentGone(f"{self._name}: cannot send: {error or 'stream closed'}"))
            await pending.done.wait()
        finally:
            self._pending.pop(request.id, None)
        if pending.error is not None:
            raise pending.error
        assert pending.reply is not None
        try:
            return msgspec.json.decode(pending.reply.result, type=result)
        except msgspec.ValidationError as error:
            raise AgentError(pending.kind, f"unexpected reply: {error}") from error

    async def _read_loop(self) -> None:
        reader = BufferedByteReceiveStream(self._stream)
        reason = "the stream ended"
        try:
            while True:
                header = await reader.receive_exactly(proto.HEADER.size)
                (size,) = proto.HEADER.unpack(header)
                if size > proto.MAX_FRAME:
                    reason = f"a frame of {size} bytes (corrupt stream?)"
                    break
                self._dispatch(self._decoder.decode(await reader.receive_exactly(size)))
        except (anyio.EndOfStream, anyio.IncompleteRead):
            pass
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as error:
            reason = f"the stream broke: {error}"
        except msgspec.DecodeError as error:
            reason = f"an undecodable message: {error}"
        self._fail_all(AgentGone(f"{self._name} is gone: {reason}"))

    def _dispatch(self, message: Any) -> None:
        match message:
            case proto.Output():
                process = self._processes.get(message.process)
                if process is not None:
                    process._output(message)
            case proto.Exit():
                process = self._processes.get(message.process)
                if process is not None:
                    process._exit(message.code)
            case proto.Reply() | proto.ErrorReply():
                pending = self._pending.get(message.id)
                if pending is None:
                    return  # an answer to a request nobody waits for any more
                if isinstance(message, proto.ErrorReply):
                    pending.error = AgentError(pending.kind, message.error)
                else:
                    pending.reply = message
                pending.done.set()

    def _fail_all(self, gone: AgentGone) -> None:
        if self._gone is None:
            self._gone = gone
        for pending in self._pending.values():
            if not pending.done.is_set():
                pending.error = self._gone
                pending.done.set()
        for process in self._processes.values():
            process._exit(None, self._gone)
