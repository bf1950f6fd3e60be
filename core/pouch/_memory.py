"""Keeping pouchd's heap small: fewer malloc arenas, no unused imports, freed heap given back.

pouchd runs blocking work on a pool of worker threads; glibc gives each
thread that meets contention an arena of its own (up to eight per core), and
what is freed in one stays in it, so a daemon that once ran twenty requests
at a time keeps twenty half-empty heaps. ``limit_arenas`` caps their number
at start-up, before any thread exists; the GIL serialises the threads'
allocations anyway. A pull, load or build moves hundreds of megabytes through
those threads; Python frees its buffers, but glibc keeps the freed pages:
``give_back`` asks glibc to return them (``malloc_trim``). Elsewhere (musl)
both do nothing.

``skip_httpx_cli``: ``import httpx`` also imports httpx's command-line client
(click, rich and pygments, several megabytes) wherever those are installed;
the daemon never runs it.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["ARENAS", "give_back", "limit_arenas", "skip_httpx_cli"]

ARENAS = 1  # the main arena only: pouchd's threads mostly wait, and take turns with the GIL
_M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)


def _libc(name: str) -> Callable[..., int] | None:
    try:
        function: Callable[..., int] = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    return function


_trim = _libc("malloc_trim")


def limit_arenas(count: int = ARENAS) -> None:
    """At most ``count`` malloc arenas (glibc); call it before starting threads."""
    mallopt = _libc("mallopt")
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, count)


def skip_httpx_cli() -> None:
    """``import httpx`` without its command-line client (``httpx.main`` then says so)."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def give_back() -> None:
    """Return the heap's free pages to the system (glibc); a few milliseconds at most."""
    if _trim is not None:
        _trim(0)
