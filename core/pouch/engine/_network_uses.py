"""Attachments in flight and removals of a network, kept apart.

A container starting attaches its networks; ``network rm`` may run at the
same moment. Without order the removal can pass its "no user" check while
an attachment is on its way, and the driver then makes the network again
for the attachment after it was removed (a bridge no record names). Each
attachment holds a use of the network; a removal first refuses new uses,
then waits for those in flight, so it sees every user. A detachment in
flight (a release after an exit) holds the network too, unrefused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from pouch.errors import Conflict

__all__ = ["NetworkUses"]


class NetworkUses:
    def __init__(self) -> None:
        self._uses: dict[str, int] = {}
        self._removing: set[str] = set()
        self._idle = anyio.Condition()

    @asynccontextmanager
    async def use(self, network: str) -> AsyncIterator[None]:
        """Hold ``network`` while attaching to it; Conflict while it is being removed."""
        if network in self._removing:
            raise Conflict(f"network {network} is being removed")
        self._uses[network] = self._uses.get(network, 0) + 1
        try:
            yield
        finally:
            await self._release(network)

    @asynccontextmanager
    async def hold(self, network: str) -> AsyncIterator[None]:
        """Hold ``network`` while detaching from it: a removal waits, none is refused."""
        self._uses[network] = self._uses.get(network, 0) + 1
        try:
            yield
        finally:
            await self._release(network)

    async def _release(self, network: str) -> None:
        self._uses[network] -= 1
        if not self._uses[network]:
            del self._uses[network]
        async with self._idle:
            self._idle.notify_all()

    @asynccontextmanager
    async def removing(self, network: str) -> AsyncIterator[None]:
        """Refuse new uses of ``network``, wait for those in flight, then run the block."""
        if network in self._removing:
            raise Conflict(f"network {network} is already being removed")
        self._removing.add(network)
        try:
            async with self._idle:
                while self._uses.get(network):
                    await self._idle.wait()
            yield
        finally:
            self._removing.discard(network)
