"""The engine's event stream: create, start, die, destroy … as docker reports them.

Events are kept in memory: a bounded history for ``since`` queries and one
bounded queue per subscriber. A subscriber that falls behind by more than its
queue loses the oldest events rather than slowing the engine down.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectSendStream

__all__ = ["Event", "EventBus", "EventFilter"]


class Event(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str  # container, image, network, volume, plugin
    action: str  # create, start, die, stop, kill, pause, unpause, destroy, rename …
    id: str
    attributes: dict[str, str] = {}
    time_nano: int = 0

    @property
    def time(self) -> float:
        return self.time_nano / 1e9


class EventFilter(msgspec.Struct, kw_only=True):
    """docker's event filters: every given key must match (values are OR-ed)."""

    filters: dict[str, list[str]] = {}
    since: float = 0.0
    until: float = 0.0

    def matches(self, event: Event) -> bool:
        if self.since and event.time < self.since:
            return False
        if self.until and event.time > self.until:
            return False
        for key, values in self.filters.items():
            if key == "type":
                candidates = [event.type]
            elif key in ("event", "action"):
                # "health_status: healthy" and "exec_start: sh" match their first word too.
                candidates = [event.action, event.action.partition(":")[0]]
            elif key in ("container", "image", "network", "volume"):
                if event.type != key:
                    return False
                candidates = [event.id, event.id[:12], event.attributes.get("name", "")]
            elif key == "label":
                candidates = [f"{k}={v}" for k, v in event.attributes.items()] + list(
                    event.attributes
                )
            else:
                candidates = [event.attributes.get(key, "")]
            if not any(v in candidates for v in values):
                return False
        return True


def _wanted(flt: EventFilter | None, event: Event) -> bool:
    """Whether a subscriber with ``flt`` is sent ``event``: a match, or the first
    event past its ``until`` (which ends its stream)."""
    if flt is None or (flt.until and event.time > flt.until):
        return True
    return flt.matches(event)


class EventBus:
    def __init__(self, history: int = 1024, queue: int = 256) -> None:
        self._history: deque[Event] = deque(maxlen=history)
        # Each subscriber's filter is applied as an event is published: a waiter
        # for one container is not woken for every other container's events.
        self._subscribers: dict[MemoryObjectSendStream[Event], EventFilter | None] = {}
        self._queue = queue

    def publish(
        self, type: str, action: str, id: str, attributes: Mapping[str, str] | None = None
    ) -> Event:
        event = Event(
            type=type,
            action=action,
            id=id,
            attributes=dict(attributes or {}),
            time_nano=time.time_ns(),
        )
        self._history.append(event)
        for stream, flt in list(self._subscribers.items()):
            if not _wanted(flt, event):
                continue
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                continue  # a slow subscriber misses events; the engine never waits
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.pop(stream, None)
        return event

    def history(self, flt: EventFilter | None = None) -> list[Event]:
        return [e for e in self._history if flt is None or flt.matches(e)]

    @asynccontextmanager
    async def subscribe(
        self, flt: EventFilter | None = None, *, replay: bool = False
    ) -> AsyncIterator[AsyncIterator[Event]]:
        """``async with bus.subscribe(f) as events: async for e in events: …``

        With ``replay``, past events matching ``flt`` come first.
        """
        send, receive = anyio.create_memory_object_stream[Event](self._queue)
        past = self.history(flt) if replay else []
        self._subscribers[send] = flt

        async def iterate() -> AsyncIterator[Event]:
            for event in past:
                yield event
            async for event in receive:
                if flt is None or flt.matches(event):
                    if flt is not None and flt.until and event.time > flt.until:
                        return
                    yield event

        try:
            yield iterate()
        finally:
            self._subscribers.pop(send, None)
            send.close()
            receive.close()
