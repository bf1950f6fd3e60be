"""Relaying a connection to another one, byte for byte, both ways.

Each direction ends on its own: the end of one side's stream is passed on to
the other as an end of stream (a half-close), and the other direction goes
on until its sender ends it too. A side that breaks (reset, closed under the
relay) ends both directions at once. Both connections are closed when the
relay returns. It knows nothing of what the bytes mean.
"""

from __future__ import annotations

import anyio
import anyio.abc

__all__ = ["relay"]

_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


async def relay(one: anyio.abc.ByteStream, other: anyio.abc.ByteStream) -> None:
    """Copy ``one`` to ``other`` and ``other`` to ``one`` until both have ended."""
    async with one, other, anyio.create_task_group() as group:
        group.start_soon(_pump, one, other, group.cancel_scope)
        group.start_soon(_pump, other, one, group.cancel_scope)


async def _pump(
    source: anyio.abc.ByteReceiveStream,
    sink: anyio.abc.ByteStream,
    both: anyio.CancelScope,
) -> None:
    try:
        async for chunk in source:
            await sink.send(chunk)
        await sink.send_eof()
    except _GONE:
        both.cancel()
