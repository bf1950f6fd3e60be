"""What a handler answers: a whole ``Response``, a ``Stream``, or a ``Hijack``.

``Hijack`` takes the connection over after the status line (``101 UPGRADED``
when the client asked to upgrade): the handler then reads and writes raw
bytes through ``Hijacked``, as docker's attach and exec do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

__all__ = ["BodyTooLarge", "Hijack", "Hijacked", "Reply", "Response", "Stream"]


class BodyTooLarge(Exception):
    """The request body is over the limit of its endpoint (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class Response:
    """A complete response; ``body`` is sent with a Content-Length."""

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []


class Stream:
    """A response whose body is produced as it goes (chunked encoding)."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.chunks = chunks
        self.content_type = content_type
        self.headers = headers or []


class Hijacked(Protocol):
    """The raw connection after the hijack."""

    async def receive(self) -> bytes:
        """The next bytes from the client; ``b""`` once it closed its side."""

    async def send(self, data: bytes) -> None: ...


class Hijack:
    """Take the connection over: ``run`` gets the raw stream after the status line."""

    def __init__(self, run: Callable[[Hijacked], Awaitable[None]], *, content_type: str) -> None:
        self.run = run
        self.content_type = content_type


Reply = Response | Stream | Hijack
