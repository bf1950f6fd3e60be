"""Keeps ``max-file`` generations of a container's log.

Monitors rotate by replacing the log file when it reaches ``max-size`` (conmon
writes a new file and renames it over the old one), which on its own keeps one
generation. While the engine runs it holds a hard link to the current file;
when the name comes to point at a new file, the link still holds the old
content, which becomes ``container.log.1`` and the older ones shift up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio

from pouch.models import Container

__all__ = ["generations", "keep_generations", "rotate_once"]

_INTERVAL = 0.5


def rotate_once(log: Path, max_files: int) -> bool:
    """One check of ``log``; True when a generation was shifted."""
    link = log.with_name(log.name + ".link")
    try:
        current = os.stat(log).st_ino
    except FileNotFoundError:
        return False
    try:
        held = os.stat(link).st_ino
    except FileNotFoundError:
        os.link(log, link)
        return False
    if held == current:
        return False
    oldest = log.with_name(f"{log.name}.{max_files - 1}")
    oldest.unlink(missing_ok=True)
    for index in range(max_files - 2, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            os.replace(
                log.with_name(f"{log.name}.{index}"), log.with_name(f"{log.name}.{index + 1}")
            )
    os.replace(link, log.with_name(f"{log.name}.1"))
    os.link(log, link)
    return True


def generations(container: Container) -> int:
    """How many log files ``container`` keeps (its ``max-file``, 1 by default)."""
    return int(container.config.log_options.get("max-file", "1"))


async def keep_generations(logs: Callable[[], Iterable[tuple[Path, int]]]) -> None:
    """Run until cancelled, checking each (log, max-file) that ``logs`` names."""
    while True:
        for log, files in logs():
            with contextlib.suppress(OSError):
                rotate_once(log, files)
        await anyio.sleep(_INTERVAL)
