"""The channels of one exec or attach session, over SPDY or WebSocket alike.

Kubernetes' remote command protocols (``channel.k8s.io`` v1 to v5) carry
stdin, stdout, stderr, an error channel that ends the session with a status,
and terminal sizes. ``Channels`` is what the session logic (``_remote``)
needs of them; ``SpdyChannels`` is the SPDY transport, where each channel is
a stream the client opens with a ``streamtype`` header.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

import anyio

from .spdy import Session, Stream

__all__ = ["Channels", "SpdyChannels", "exit_status", "parse_sizes"]

Output = Literal["stdout", "stderr"]


class Channels(Protocol):
    async def read_stdin(self) -> bytes:
        """The next input; ``b""`` once the client closed stdin."""

    async def read_size(self) -> tuple[int, int] | None:
        """The next terminal size (width, height); None when no more come."""

    async def write(self, channel: Output, data: bytes) -> None: ...

    async def finish(self, status: dict[str, Any] | None) -> None:
        """Send ``status`` on the error channel (protocol v4 and later: as JSON)
        and end the session."""

    async def wait_closed(self) -> None:
        """Return once the client has gone away."""


def exit_status(code: int | None, error: str = "") -> dict[str, Any]:
    """Kubernetes' ``Status`` for a process's end, as v4 clients decode it."""
    if error:
        return {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError"}
    if not code:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def parse_sizes(buffer: bytes) -> tuple[list[tuple[int, int]], bytes]:
    """Complete JSON size objects in ``buffer`` (``{"Width":…,"Height":…}``), and the rest."""
    sizes = []
    decoder = json.JSONDecoder()
    text = buffer.decode(errors="replace")
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        if isinstance(value, dict):
            sizes.append((int(value.get("Width", 0)), int(value.get("Height", 0))))
    return sizes, text[position:].encode()


def status_text(status: dict[str, Any] | None, version: int) -> bytes:
    """The error channel's content: JSON from v4 on, the bare message before."""
    if status is None:
        return b""
    if version >= 4:
        return json.dumps(status).encode()
    return b"" if status.get("status") == "Success" else str(status.get("message", "")).encode()


class SpdyChannels:
    """The streams of one SPDY session, by ``streamtype``."""

    def __init__(self, session: Session, streams: dict[str, Stream], version: int) -> None:
        self.session = session
        self.streams = streams
        self.version = version
        self._size_buffer = b""
        self._sizes: list[tuple[int, int]] = []

    async def read_stdin(self) -> bytes:
        stream = self.streams.get("stdin")
        return b"" if stream is None else await stream.receive()

    async def read_size(self) -> tuple[int, int] | None:
        stream = self.streams.get("resize")
        while stream is not None and not self._sizes:
            data = await stream.receive()
            if not data:
                return None
            self._sizes, self._size_buffer = parse_sizes(self._size_buffer + data)
        return self._sizes.pop(0) if self._sizes else None

    async def write(self, channel: Output, data: bytes) -> None:
        stream = self.streams.get(channel) or self.streams.get("stdout")
        if stream is not None:
            await stream.send(data)

    async def finish(self, status: dict[str, Any] | None) -> None:
        for name in ("stdout", "stderr"):
            if name in self.streams:
                await self.streams[name].close()
        error = self.streams.get("error")
        if error is not None:
            text = status_text(status, self.version)
            if text:
                await error.send(text)
            await error.close()
        with anyio.move_on_after(1):
            await self.session.goaway()

    async def wait_closed(self) -> None:
        while not self.session.closed:
            await anyio.sleep(0.2)
