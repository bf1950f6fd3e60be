"""A long piece of work streamed as docker's JSON lines (pull, push, build).

``streamed`` runs ``work(send)`` in the daemon's task group; what it sends
goes out one JSON line each, a ``PouchError`` it sends (or raises) as
docker's ``errorDetail`` line; a full disk (``ENOSPC``, ``EDQUOT``) the
work did not name is said as ``NoSpace``, and logged once. An error before
anything else was sent is the HTTP answer instead (a 400 or 404 naming what
is wrong). The work is cancelled when the client goes away.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import msgspec
from anyio.streams.memory import MemoryObjectSendStream

from pouch.daemon.replies import Reply, Stream
from pouch.errors import NoSpace, PouchError, no_space

__all__ = ["Send", "streamed"]

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()

Send = MemoryObjectSendStream[Any]


def _line(item: Any) -> bytes:
    if isinstance(item, PouchError):
        item = {"errorDetail": {"message": item.message}, "error": item.message}
    return _encoder.encode(item) + b"\n"


async def streamed(
    task_group: anyio.abc.TaskGroup, work: Callable[[Send], Awaitable[None]], what: str
) -> Reply:
    send, receive = anyio.create_memory_object_stream[Any](math.inf)
    scope = anyio.CancelScope()

    async def run() -> None:
        with send, scope:
            try:
                await work(send)
            except PouchError as exc:
                send.send_nowait(exc)
            except Exception as exc:
                full = no_space(exc)
                if full is not None:
                    send.send_nowait(full)
                    return
                log.exception("%s failed", what)  # a bug: reported, and the daemon goes on
                send.send_nowait(PouchError(f"internal error: {type(exc).__name__}: {exc}"))

    task_group.start_soon(run)
    try:
        first = await receive.receive()
    except anyio.EndOfStream:
        first = None
    if isinstance(first, PouchError):
        scope.cancel()
        raise first

    async def produce() -> AsyncIterator[bytes]:
        item = first
        try:
            while item is not None:
                if isinstance(item, NoSpace):  # the first item is logged as the HTTP answer
                    log.warning("%s: %s", what, item.message)
                yield _line(item)
                item = await receive.receive()
        except anyio.EndOfStream:
            return
        finally:
            scope.cancel()
            receive.close()

    return Stream(produce())
