"""Rotating the logs of runtimes whose monitors do not (no ``Capability.LOG_ROTATION``).

conmon writes one log file and, left to itself, would only replace it. So
while the engine runs it rotates such a log: when the live file has reached
``max-size`` the generations move up (``pouch._logfiles.rotate``, which never
leaves more than ``max-file`` files) and the runtime is told to reopen the
log (``LogReopener``); the monitor then starts the new file, having written
nothing but to the old one meanwhile, so no line is lost or doubled. The
faster a log grows the more often it is looked at, so a chatty container
overshoots ``max-size`` by little. While the engine is down nothing rotates
these logs: the live file grows until it is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.abc

from pouch._logfiles import rotate
from pouch.models import Container

__all__ = ["LogRotations", "generations", "next_look"]

log = logging.getLogger(__name__)

# Seconds between looks at a log: at a quiet one, and at most often.
_SLOWEST = 0.5
_FASTEST = 0.005

Reopen = Callable[[], Awaitable[None]]


def generations(container: Container) -> int:
    """How many log files ``container`` keeps (its ``max-file``, 1 by default)."""
    return int(container.config.log_options.get("max-file", "1"))


def next_look(room: int, rate: float) -> float:
    """Seconds until the next look at a log with ``room`` bytes left, growing at ``rate``/s:
    half the time it would take to fill up, within bounds."""
    if rate <= 0:
        return _SLOWEST
    return min(_SLOWEST, max(_FASTEST, room / rate / 2))


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # rotated, and the monitor has not made the new file yet


async def _keep(
    name: str, path: Path, max_size: int, max_files: int, reopen: Reopen | None
) -> None:
    with contextlib.suppress(OSError):  # engines before this one held a link to the live file
        path.with_name(path.name + ".link").unlink(missing_ok=True)
    seen, then, rate = 0, anyio.current_time(), 0.0
    while True:
        size, now = _size(path), anyio.current_time()
        # A rate seen once fades slowly: just after a rotation the new file
        # may not be there yet, and the output goes on as fast.
        rate = max((size - seen) / (now - then) if now > then else 0.0, rate / 2)
        then = now
        if size >= max_size:
            try:
                rotate(path, max_files)
                if reopen is not None:
                    await reopen()
            except Exception as exc:  # a runtime's error must not end the engine's task group
                log.warning("container %s: log rotation failed: %s", name, exc)
                await anyio.sleep(_SLOWEST)
                continue
            size = 0
        seen = size
        await anyio.sleep(next_look(max_size - size, rate))


class LogRotations:
    """One task per running container whose log the engine rotates."""

    def __init__(self, task_group: anyio.abc.TaskGroup) -> None:
        self._task_group = task_group
        self._scopes: dict[str, anyio.CancelScope] = {}

    def keep(
        self, container_id: str, path: Path, max_size: int, max_files: int, reopen: Reopen | None
    ) -> None:
        """Rotate ``path`` at ``max_size`` bytes keeping ``max_files`` files, until ``stop``."""
        self.stop(container_id)
        scope = self._scopes[container_id] = anyio.CancelScope()

        async def run() -> None:
            with scope:
                await _keep(container_id[:12], path, max_size, max_files, reopen)

        self._task_group.start_soon(run, name=f"log rotation {container_id[:12]}")

    def stop(self, container_id: str) -> None:
        scope = self._scopes.pop(container_id, None)
        if scope is not None:
            scope.cancel()
