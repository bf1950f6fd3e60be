"""Giving freed heap back to the system after a large operation.

A pull, load or build moves hundreds of megabytes through worker threads;
Python frees its buffers, but glibc keeps the freed pages in its per-thread
arenas, so an idle pouchd would stay as large as its busiest moment.
``give_back`` asks glibc to return them (``malloc_trim``); elsewhere (musl)
it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

__all__ = ["give_back"]


@functools.cache
def _trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def give_back() -> None:
    """Return the heap's free pages to the system (glibc); a few milliseconds at most."""
    trim = _trim()
    if trim is not None:
        trim(0)
