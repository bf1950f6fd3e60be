"""What the clients were told: the acknowledgments the engine must keep.

Every operation's outcome as a client saw it: a container whose ``run -d``
returned its ID exists until a ``rm`` returned; a ``rm`` that returned means
the container is gone for good. An operation cut short by the engine's death
promises nothing, so its container is ``uncertain``: present or absent are
both fine, half-made is not. Workers claim a container before acting on it,
so two of them never race on one.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Expected", "Ledger"]


@dataclass
class Expected:
    """A container as its client made it: the lines it prints and the code it exits with."""

    name: str
    runtime: str
    lines: int
    code: int
    id: str = ""
    acknowledged: bool = False
    # Stopped, killed or started again by a client: its exit code is not its own.
    interfered: bool = False
    # What clients did to it and what they were told, for a violation's report.
    history: list[str] = field(default_factory=list)

    @property
    def endless(self) -> bool:
        return self.lines >= ENDLESS

    def script(self) -> str:
        pause = "0.2" if self.endless else "0.05"
        return (
            f"echo start; i=0; while [ $i -lt {self.lines} ]; do echo line-$i;"
            f" i=$((i+1)); sleep {pause}; done; echo end; exit {self.code}"
        )


ENDLESS = 1_000_000


@dataclass
class Ledger:
    containers: dict[str, Expected] = field(default_factory=dict)  # by name
    removed: set[str] = field(default_factory=set)  # IDs whose rm returned
    networks: set[str] = field(default_factory=set)
    volumes: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    seen_ids: set[str] = field(default_factory=set)
    made: Counter[str] = field(default_factory=Counter)  # acknowledged creates per runtime
    _busy: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: int = 0

    def new_name(self, prefix: str) -> str:
        with self._lock:
            self._serial += 1
            return f"{prefix}-{self._serial}"

    @contextmanager
    def adding(self, expected: Expected) -> Iterator[Expected]:
        """Note a container being made; no other worker acts on it meanwhile."""
        with self._lock:
            self.containers[expected.name] = expected
            self._busy.add(expected.name)
        try:
            yield expected
        finally:
            with self._lock:
                self._busy.discard(expected.name)

    def acknowledge(self, name: str, container_id: str) -> None:
        with self._lock:
            expected = self.containers[name]
            expected.id, expected.acknowledged = container_id, True
            self.made[expected.runtime] += 1
            self.seen_ids.add(container_id)

    def forget(self, name: str, container_id: str) -> None:
        """``rm`` returned: the container must never be seen again."""
        with self._lock:
            self.containers.pop(name, None)
            if container_id:
                self.removed.add(container_id)

    @contextmanager
    def claim(self, rng: random.Random) -> Iterator[Expected | None]:
        """One container no other worker is acting on, or None."""
        with self._lock:
            free = sorted(n for n in self.containers if n not in self._busy)
            name = rng.choice(free) if free else None
            if name is not None:
                self._busy.add(name)
        try:
            yield self.containers.get(name) if name else None
        finally:
            if name is not None:
                with self._lock:
                    self._busy.discard(name)

    def pick(self, rng: random.Random, kind: str) -> str | None:
        with self._lock:
            names = sorted(getattr(self, kind))
        return rng.choice(names) if names else None
