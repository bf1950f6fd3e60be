"""Undo steps for multi-step operations: on failure, what was made is unmade.

Steps run newest first; an undo step that fails is logged and the rest still
run, so one stuck resource does not leave the others behind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio

__all__ = ["Undo"]

log = logging.getLogger(__name__)


class Undo:
    def __init__(self, what: str) -> None:
        self.what = what
        self._steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def push(self, label: str, step: Callable[[], Awaitable[object]]) -> None:
        self._steps.append((label, step))

    def commit(self) -> None:
        """The operation succeeded: forget the undo steps."""
        self._steps.clear()

    async def __aenter__(self) -> Undo:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._steps.clear()
            return
        with anyio.CancelScope(shield=True):
            while self._steps:
                label, step = self._steps.pop()
                try:
                    with anyio.move_on_after(30):
                        await step()
                except Exception:
                    log.exception("%s: undoing %s failed", self.what, label)
