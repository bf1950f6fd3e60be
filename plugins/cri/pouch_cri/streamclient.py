"""Clients of the streaming server, over SPDY/3.1 and WebSocket, as kubelet's speak.

``spdy_exec`` and ``websocket_exec`` run a remote command session at an
``Exec`` or ``Attach`` URL: send ``stdin`` (then close it), terminal sizes,
and collect stdout, stderr and the final status. ``spdy_port_forward`` opens
one forwarded connection of a ``PortForward`` URL. They are what the
project's tests drive the server with, and a reference for tools.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
)
from wsproto.utilities import LocalProtocolError

from .spdy import Session, Stream

__all__ = ["RemoteResult", "spdy_exec", "spdy_port_forward", "spdy_upgrade", "websocket_exec"]


@dataclass
class RemoteResult:
    stdout: bytes = b""
    stderr: bytes = b""
    status: dict[str, Any] = field(default_factory=dict)
    protocol: str = ""

    @property
    def exit_code(self) -> int:
        """0 for Success; the ExitCode cause of a NonZeroExitCode failure; else -1."""
        if self.status.get("status") == "Success":
            return 0
        for cause in self.status.get("details", {}).get("causes", []):
            if cause.get("reason") == "ExitCode":
                return int(cause["message"])
        return -1


async def _connect(url: str) -> tuple[anyio.abc.SocketStream, str, str]:
    parts = urlsplit(url)
    transport = await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 80)
    return transport, f"{parts.hostname}:{parts.port}", parts.path or "/"


async def spdy_upgrade(url: str, protocols: list[str]) -> tuple[Session, str]:
    """Upgrade a POST to ``url`` to SPDY/3.1; the client session and the chosen protocol."""
    transport, host, path = await _connect(url)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Connection: Upgrade",
        "Upgrade: SPDY/3.1",
        *[f"X-Stream-Protocol-Version: {p}" for p in protocols],
    ]
    await transport.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    receive = BufferedByteReceiveStream(transport)
    head = (await receive.receive_until(b"\r\n\r\n", 65536)).decode("latin-1")
    if not head.startswith("HTTP/1.1 101"):
        body = receive.buffer.decode(errors="replace")
        await transport.aclose()
        raise ConnectionError(f"upgrade refused: {head.splitlines()[0]} {body.strip()}")
    chosen = next(
        (
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("x-stream-protocol-version:")
        ),
        "",
    )
    return Session(transport, client=True, buffered=receive), chosen


async def _read_all(stream: Stream | None) -> bytes:
    chunks = []
    while stream is not None and (data := await stream.receive()):
        chunks.append(data)
    return b"".join(chunks)


async def spdy_exec(
    url: str,
    *,
    stdin: bytes | None = None,
    tty: bool = False,
    size: tuple[int, int] | None = None,
    protocols: list[str] | None = None,
    timeout: float = 60,
) -> RemoteResult:
    """Run an exec/attach session; ``size`` is (width, height) for a terminal."""
    offered = protocols or ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io"]
    session, chosen = await spdy_upgrade(url, offered)
    result = RemoteResult(protocol=chosen)
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as group:
            group.start_soon(session.serve)
            error = await session.open({"streamtype": "error"})
            await error.close()
            streams: dict[str, Stream] = {}
            if stdin is not None:
                streams["stdin"] = await session.open({"streamtype": "stdin"})
            streams["stdout"] = await session.open({"streamtype": "stdout"})
            if not tty:
                streams["stderr"] = await session.open({"streamtype": "stderr"})
            if tty and chosen != "v2.channel.k8s.io":
                resize = await session.open({"streamtype": "resize"})
                if size is not None:
                    await resize.send(json.dumps({"Width": size[0], "Height": size[1]}).encode())
            for name in ("stdout", "stderr"):
                if name in streams:
                    await streams[name].close()
            if stdin is not None:
                await streams["stdin"].send(stdin)
                await streams["stdin"].close()
            result.stdout = await _read_all(streams["stdout"])
            result.stderr = await _read_all(streams.get("stderr"))
            text = await _read_all(error)
            group.cancel_scope.cancel()
        await session.aclose()
    if chosen == "v4.channel.k8s.io":
        result.status = json.loads(text) if text else {}
    else:
        result.status = {"status": "Failure", "message": text.decode()} if text else {}
        result.status = result.status or {"status": "Success"}
    return result


async def spdy_port_forward(url: str, port: int, data: bytes, *, timeout: float = 30) -> bytes:
    """Send ``data`` to ``port`` through the forward, close, and return the answer.

    An error the server reports on the request's error stream is raised as
    ``ConnectionError``.
    """
    session, _ = await spdy_upgrade(url, ["portforward.k8s.io"])
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as group:
            group.start_soon(session.serve)
            headers = {"port": str(port), "requestid": "0"}
            error = await session.open({**headers, "streamtype": "error"})
            await error.close()
            stream = await session.open({**headers, "streamtype": "data"})
            await stream.send(data)
            await stream.close()
            answer = await _read_all(stream)
            problem = await _read_all(error)
            group.cancel_scope.cancel()
        await session.aclose()
    if problem:
        raise ConnectionError(problem.decode(errors="replace"))
    return answer


def _opening(
    stdin: bytes | None, size: tuple[int, int] | None, protocol: str
) -> list[BytesMessage]:
    """What a client sends once accepted: the terminal size, stdin, stdin's close (v5)."""
    messages = []
    if size is not None:
        resize = json.dumps({"Width": size[0], "Height": size[1]}).encode()
        messages.append(BytesMessage(data=b"\x04" + resize))
    if stdin is not None:
        messages.append(BytesMessage(data=b"\x00" + stdin))
        if protocol.startswith("v5"):
            messages.append(BytesMessage(data=b"\xff\x00"))
    return messages


async def websocket_exec(
    url: str,
    *,
    stdin: bytes | None = None,
    size: tuple[int, int] | None = None,
    protocol: str = "v5.channel.k8s.io",
    timeout: float = 60,
) -> RemoteResult:
    """An exec/attach session over WebSocket (v5 closes stdin with ``[255, 0]``)."""
    parts = urlsplit(url)
    connection = WSConnection(ConnectionType.CLIENT)
    result = RemoteResult(protocol=protocol)
    out = {1: bytearray(), 2: bytearray(), 3: bytearray()}
    with anyio.fail_after(timeout):
        transport = await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 80)
        async with transport:
            request = Request(
                host=f"{parts.hostname}:{parts.port}", target=parts.path, subprotocols=[protocol]
            )
            await transport.send(connection.send(request))
            pending = bytearray()
            accepted = done = False
            while not done:
                try:
                    data = await transport.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
                connection.receive_data(data)
                for event in connection.events():
                    if isinstance(event, RejectConnection):
                        raise ConnectionError(f"websocket refused: {event.status_code}")
                    if isinstance(event, RejectData):
                        raise ConnectionError(bytes(event.data).decode(errors="replace"))
                    if isinstance(event, AcceptConnection):
                        accepted = True
                        for message in _opening(stdin, size, protocol):
                            await transport.send(connection.send(message))
                    elif isinstance(event, BytesMessage):
                        pending += event.data
                        if event.message_finished and pending:
                            out.setdefault(pending[0], bytearray()).extend(pending[1:])
                            pending = bytearray()
                    elif isinstance(event, CloseConnection):
                        with contextlib.suppress(LocalProtocolError):
                            await transport.send(connection.send(event.response()))
                        done = True
            if not accepted:
                raise ConnectionError("the server closed the connection before accepting")
    result.stdout, result.stderr = bytes(out[1]), bytes(out[2])
    result.status = json.loads(bytes(out[3])) if out[3] else {}
    return result
