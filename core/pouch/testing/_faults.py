"""The rules of a ``FaultyProxy``: which requests get which fault, and what it saw.

Owns ``Fault`` and its constructors (``drop_after``, ``error``, ``stall``,
``trickle``), ``Rule`` (a method, a piece of the path, how many times) and
the record of each exchange (``Record`` while it happens, ``Exchange`` as
tests see it). It must not touch sockets.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Exchange", "Fault", "Record", "Rule", "drop_after", "error", "stall", "trickle"]


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    """What the proxy does to a request: ``drop_after``, ``error``, ``stall``, ``trickle``."""

    kind: Literal["drop", "error", "stall", "trickle"]
    after: int | None = None
    """drop, stall: body bytes passed on first (stall: None sends not even headers)."""
    status: int = 0
    retry_after: str = ""
    reset: bool = False
    rate: int = 0


def drop_after(n: int, *, reset: bool = False) -> Fault:
    """Pass the registry's headers and ``n`` body bytes on, then close (``reset``: RST)."""
    return Fault(kind="drop", after=n, reset=reset)


def error(status: int, *, retry_after: float | str | None = None) -> Fault:
    """Answer ``status`` with a distribution-spec error body, with ``Retry-After`` if given."""
    shown = "" if retry_after is None else str(retry_after)
    return Fault(kind="error", status=status, retry_after=shown)


def stall(after: int | None = None) -> Fault:
    """Send nothing (``after`` None), or the headers and ``after`` body bytes, then nothing."""
    return Fault(kind="stall", after=after)


def trickle(rate: int) -> Fault:
    """Pass the answer on at ``rate`` body bytes a second."""
    return Fault(kind="trickle", rate=max(1, rate))


class Rule(msgspec.Struct, kw_only=True):
    """Do ``fault`` to requests of ``method`` whose path contains ``path``.

    ``times``: how many matching requests get it (None: every one).
    """

    fault: Fault
    method: str = "GET"
    path: str = "/blobs/"
    times: int | None = 1
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        return method == self.method and self.path in path


class Exchange(msgspec.Struct, frozen=True, kw_only=True):
    """One request the proxy answered, or is answering."""

    method: str
    path: str
    range: str
    fault: str
    """The fault's kind, or "" when the request was passed on untouched."""
    status: int
    sent: int
    """Body bytes sent to the client so far."""
    complete: bool
    """The whole answer was sent."""
    client_gone: bool
    """The client closed the connection before the answer ended."""
    ended: bool


class Record:
    """An exchange while it happens (the proxy's threads update it)."""

    def __init__(self, method: str, path: str, range_: str, fault: str) -> None:
        self.method, self.path, self.range, self.fault = method, path, range_, fault
        self.status = 0
        self.sent = 0
        self.complete = False
        self.client_gone = False
        self.ended = False

    def snapshot(self) -> Exchange:
        return Exchange(
            method=self.method,
            path=self.path,
            range=self.range,
            fault=self.fault,
            status=self.status,
            sent=self.sent,
            complete=self.complete,
            client_gone=self.client_gone,
            ended=self.ended,
        )
