"""Releases: work after an exit or an automatic removal that no client waits for.

Tearing a container's network down (CNI DEL) and deleting its runtime state
take tens of milliseconds that ``run --rm`` need not pay: the exit code and
the free name are what its user waits for. Such work runs here, in the
background and shielded from cancellation, under a key (the sandbox's ID).
Whoever needs it finished waits with ``settled``: a new start of the same
sandbox, a start that wants a host port or an address a release may still
hold, an explicit stop or removal, ``network rm``, reconciliation. pouchd
waits for every release before it exits; after a crash part-way, the
drivers' collection and the start-up repair release what no record names.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc

__all__ = ["Releases"]

log = logging.getLogger(__name__)


class Releases:
    def __init__(self, task_group: anyio.abc.TaskGroup | None) -> None:
        self._task_group = task_group
        self._pending: dict[str, anyio.Event] = {}

    @property
    def background(self) -> bool:
        """Whether work can run in the background (an engine with a task group)."""
        return self._task_group is not None

    def start(self, key: str, work: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run ``work`` in the background under ``key``, after any release of ``key``
        still in flight."""
        assert self._task_group is not None
        before = self._pending.get(key)
        done = anyio.Event()
        self._pending[key] = done
        self._task_group.start_soon(self._run, key, before, done, work, name=name)

    async def _run(
        self,
        key: str,
        before: anyio.Event | None,
        done: anyio.Event,
        work: Callable[[], Awaitable[None]],
    ) -> None:
        try:
            with anyio.CancelScope(shield=True):
                if before is not None:
                    await before.wait()
                await work()
        except Exception:
            log.exception("%s: releasing failed", key[:12])
        finally:
            if self._pending.get(key) is done:
                del self._pending[key]
            done.set()

    async def settled(self, key: str | None = None) -> None:
        """Wait until the releases of ``key`` (of every key) have ended."""
        while True:
            pending = [e for k, e in self._pending.items() if key in (None, k)]
            if not pending:
                return
            for event in pending:
                await event.wait()
