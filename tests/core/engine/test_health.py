"""The healthcheck rules of the engine: docker's judgement of results, the image's check."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import msgspec
import pytest

from pouch.engine import Engine
from pouch.engine._filters import check_filters, container_matches
from pouch.engine._health import MAX_LOG, judge, with_image_healthcheck
from pouch.errors import InvalidArgument
from pouch.events import EventFilter
from pouch.models import Container, ContainerConfig, Health, Healthcheck, HealthResult
from pouch.oci.image import ImageHealthcheck

SECOND = 10**9


def container(
    check: Healthcheck | None, *, started: float, health: Health | None = None
) -> Container:
    config = ContainerConfig(image="busybox", healthcheck=check)
    found = Container(
        id="c" * 64, name="c", config=config, image_id="i", runtime="runc", created_at=started
    )
    found.state.started_at = started
    found.state.health = health
    return found


def result(at: float, code: int) -> HealthResult:
    return HealthResult(start=at, end=at + 0.1, exit_code=code, output=f"code {code}")


def test_failures_count_up_to_retries_and_a_success_resets() -> None:
    check = Healthcheck(test=["CMD", "x"], retries=2)
    now = time.time()
    c = container(check, started=now - 10, health=Health())
    c.state.health = judge(c, check, result(now, 1))
    assert (c.state.health.status, c.state.health.failing_streak) == ("starting", 1)
    c.state.health = judge(c, check, result(now, 2))  # any code but 0 fails
    assert (c.state.health.status, c.state.health.failing_streak) == ("unhealthy", 2)
    c.state.health = judge(c, check, result(now, 0))
    assert (c.state.health.status, c.state.health.failing_streak) == ("healthy", 0)
    for _ in range(10):
        c.state.health = judge(c, check, result(now, 0))
    assert len(c.state.health.log) == MAX_LOG


def test_failures_in_the_start_period_do_not_count_until_a_success() -> None:
    check = Healthcheck(test=["CMD", "x"], retries=1, start_period=60 * SECOND)
    now = time.time()
    c = container(check, started=now - 1, health=Health())
    c.state.health = judge(c, check, result(now, 1))
    assert (c.state.health.status, c.state.health.failing_streak) == ("starting", 0)
    c.state.health = judge(c, check, result(now, 0))
    assert c.state.health.status == "healthy"
    c.state.health = judge(c, check, result(now, 1))  # healthy once: the period is over
    assert c.state.health.status == "unhealthy"
    late = container(check, started=now - 61, health=Health())
    assert judge(late, check, result(now, 1)).status == "unhealthy"


def test_the_image_check_fills_what_the_container_leaves_unset() -> None:
    image = ImageHealthcheck(Test=["CMD-SHELL", "true"], Interval=2 * SECOND, Retries=4)
    plain = ContainerConfig(image="busybox")
    assert with_image_healthcheck(plain, image).healthcheck == Healthcheck(
        test=["CMD-SHELL", "true"], interval=2 * SECOND, retries=4
    )
    own = msgspec.structs.replace(plain, healthcheck=Healthcheck(retries=9))
    merged = with_image_healthcheck(own, image).healthcheck
    assert merged == Healthcheck(test=["CMD-SHELL", "true"], interval=2 * SECOND, retries=9)
    off = msgspec.structs.replace(plain, healthcheck=Healthcheck(test=["NONE"]))
    assert with_image_healthcheck(off, image).healthcheck.disabled  # type: ignore[union-attr]
    assert with_image_healthcheck(plain, None) is plain
    broken = ImageHealthcheck(Test=["CMD-SHELL", "true"], Interval=-1)
    assert with_image_healthcheck(plain, broken) is plain  # ignored, with a warning


def test_the_health_filter() -> None:
    now = time.time()
    checked = container(Healthcheck(test=["CMD", "x"]), started=now, health=Health())
    plain = container(None, started=now)
    assert container_matches(checked, {"health": ["starting"]})
    assert not container_matches(checked, {"health": ["healthy", "unhealthy"]})
    assert container_matches(plain, {"health": ["none"]})
    try:
        check_filters({"health": ["fine"]})
    except InvalidArgument as exc:
        assert "health" in str(exc)
    else:
        raise AssertionError("an unknown health value was taken")


@pytest.mark.anyio
async def test_the_engine_probes_a_running_container_and_stops_with_it(
    engine: Engine, busybox: str, tmp_path: Path
) -> None:
    """On the host-process test runtime, whose exec runs the probe on the host."""
    ok = tmp_path / "ok"
    check = Healthcheck(test=["CMD-SHELL", f"echo probe; test -f {ok}"], interval=50_000_000)
    config = ContainerConfig(image=busybox, cmd=["sleep", "300"], healthcheck=check)
    created = await engine.create(config)
    assert created.state.health is None
    statuses: list[str] = []
    flt = EventFilter(filters={"container": [created.id], "event": ["health_status"]})
    with anyio.fail_after(30):
        async with engine.events.subscribe(flt) as events:
            started = await engine.start(created.id)
            assert started.state.health == Health(status="starting")
            async for event in events:
                statuses.append(event.action)
                if event.action == "health_status: unhealthy":
                    ok.touch()
                if event.action == "health_status: healthy":
                    break
    assert statuses == ["health_status: unhealthy", "health_status: healthy"]
    health = engine.inspect(created.id).state.health
    assert health is not None and health.log[-1].exit_code == 0
    assert health.log[-1].output == "probe\n" and len(health.log) <= MAX_LOG
    await engine.stop(created.id, timeout=1)
    assert engine._p.health._monitors == {}  # the exit stopped the monitor
    kept = engine.inspect(created.id).state.health
    await anyio.sleep(0.3)
    assert engine.inspect(created.id).state.health == kept  # no probe once stopped
    await engine.remove(created.id)
