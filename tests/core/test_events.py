"""The event stream: filters as docker's, bounded per subscriber."""

from __future__ import annotations

import anyio
import pytest

from pouch.events import EventBus, EventFilter

pytestmark = pytest.mark.anyio


async def test_subscribers_see_matching_events_only() -> None:
    bus = EventBus()
    flt = EventFilter(filters={"event": ["die"], "container": ["web"]})
    async with bus.subscribe(flt) as events:
        bus.publish("container", "start", "a" * 64, {"name": "web"})
        bus.publish("container", "die", "b" * 64, {"name": "db", "exitCode": "1"})
        bus.publish("container", "die", "a" * 64, {"name": "web", "exitCode": "7"})
        with anyio.fail_after(5):
            event = await events.__anext__()
    assert (event.id, event.attributes["exitCode"]) == ("a" * 64, "7")


async def test_replay_returns_history_and_label_filters_match() -> None:
    bus = EventBus()
    bus.publish("container", "create", "c" * 64, {"name": "x", "tier": "front"})
    bus.publish("image", "pull", "busybox:latest")
    flt = EventFilter(filters={"label": ["tier=front"]})
    assert [e.action for e in bus.history(flt)] == ["create"]
    assert [e.type for e in bus.history(EventFilter(filters={"type": ["image"]}))] == ["image"]


async def test_a_slow_subscriber_does_not_block_publishers() -> None:
    bus = EventBus(queue=2)
    async with bus.subscribe() as _events:
        for n in range(10):
            bus.publish("container", "start", str(n))  # must not block or raise
    assert len(bus.history()) == 10
