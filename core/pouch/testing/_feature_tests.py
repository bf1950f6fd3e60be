"""Conformance tests of what a runtime offers beyond the state machine.

Exec (and healthchecks through it), logs, pause, resource limits, restart
policies and surviving an engine restart. A test of an optional capability
skips, naming it, when the runtime's ``describe()`` does not list it.

Bound into ``RuntimeConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from pouch.errors import Conflict
from pouch.events import EventFilter
from pouch.models import Healthcheck, Resources, RestartPolicy, State
from pouch.testing._suite import LONG, SuiteBase, counter, until
from pouch.testing.plugin import EngineFactory, import_busybox

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__: list[str] = []

_MEMORY_LIMIT = (
    "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
)


# -- exec ------------------------------------------------------------------------


async def test_exec(self: SuiteBase, engine: Engine, busybox: str) -> None:
    self.require(engine, "exec")
    with anyio.fail_after(self.timeout):
        created = await self.create(engine, busybox, LONG)
        with pytest.raises(Conflict):
            await engine.exec_run(created.id, ["true"])
        await engine.start(created.id)
        script = "echo out; echo err >&2; exit 3"
        assert await engine.exec_run(created.id, ["sh", "-c", script]) == (
            3,
            b"out\n",
            b"err\n",
        )
        assert (await engine.exec_run(created.id, ["true"]))[0] == 0
        await engine.stop(created.id, timeout=10)
        with pytest.raises(Conflict):
            await engine.exec_run(created.id, ["true"])


async def test_healthcheck_probes_through_exec(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    """A passing probe makes a container healthy, a failing one unhealthy."""
    self.require(engine, "exec")
    every = {"interval": 100_000_000, "retries": 1}
    with anyio.fail_after(self.timeout):
        flt = EventFilter(filters={"type": ["container"], "event": ["health_status"]})
        async with engine.events.subscribe(flt) as events:
            good = await self.run(
                engine, busybox, LONG, healthcheck=Healthcheck(test=["CMD", "true"], **every)
            )
            bad = await self.run(
                engine, busybox, LONG, healthcheck=Healthcheck(test=["CMD", "false"], **every)
            )
            wanted = {good.id: "health_status: healthy", bad.id: "health_status: unhealthy"}
            async for event in events:
                if wanted.get(event.id) == event.action:
                    del wanted[event.id]
                if not wanted:
                    break
        for container, code in ((good, 0), (bad, 1)):
            health = engine.inspect(container.id).state.health
            assert health is not None and health.log[-1].exit_code == code
            await engine.remove(container.id, force=True)


# -- logs ------------------------------------------------------------------------


async def test_logs_streams(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        script = "echo out1; echo err1 >&2; echo out2"
        container = await self.run(engine, busybox, ["sh", "-c", script])
        await engine.wait(container.id)
        records = [r async for r in engine.logs(container.id)]
        assert [r.message for r in records if r.stream == "stdout"] == [b"out1", b"out2"]
        assert [r.message for r in records if r.stream == "stderr"] == [b"err1"]
        assert not any(r.partial for r in records)


async def test_logs_tail(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        script = "for i in 1 2 3 4 5; do echo line$i; done"
        container = await self.run(engine, busybox, ["sh", "-c", script])
        await engine.wait(container.id)
        assert await self.logs(engine, container.id, tail=2) == [
            ("stdout", "line4"),
            ("stdout", "line5"),
        ]
        assert await self.logs(engine, container.id, tail=0) == []
        assert len(await self.logs(engine, container.id, tail=100)) == 5


async def test_logs_since(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        script = "echo before; sleep 1; echo after"
        container = await self.run(engine, busybox, ["sh", "-c", script])
        await engine.wait(container.id)
        records = [r async for r in engine.logs(container.id)]
        assert [r.message for r in records] == [b"before", b"after"]
        assert records[1].time - records[0].time >= 0.5
        later = [r.message async for r in engine.logs(container.id, since=records[1].time)]
        assert later == [b"after"]
        middle = (records[0].time + records[1].time) / 2
        assert [r.message async for r in engine.logs(container.id, until=middle)] == [b"before"]


async def test_logs_follow_ends_with_the_container(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    with anyio.fail_after(self.timeout):
        script = "for i in 1 2 3; do echo f$i; sleep 0.3; done"
        container = await self.run(engine, busybox, ["sh", "-c", script])
        lines = [r.message async for r in engine.logs(container.id, follow=True)]
        assert lines == [b"f1", b"f2", b"f3"]
        assert engine.inspect(container.id).state.status == State.EXITED


# -- pause -----------------------------------------------------------------------


async def test_logs_rotate_at_max_size_keeping_max_file(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    """Never more than max-file files, even for a moment; the kept lines without a gap."""
    script = (
        "pad=$(printf '%080d' 0); i=0; while [ $i -lt 400 ]; do"
        " echo line-$i-$pad; i=$((i+1)); sleep 0.01; done"
    )
    with anyio.fail_after(self.timeout):
        container = await self.run(
            engine,
            busybox,
            ["sh", "-c", script],
            log_options={"max-size": "8k", "max-file": "3"},
        )
        log = Path(container.log_path)
        most = 0
        while engine.inspect(container.id).state.status == State.RUNNING:
            most = max(most, len(list(log.parent.glob("container.log*"))))
            await anyio.sleep(0.005)
        await engine.wait(container.id)
    files = sorted(p.name for p in log.parent.glob("container.log*"))
    assert most <= 3 and len(files) <= 3, files
    assert "container.log.2" in files  # it rotated, twice at least
    if "log-rotation" in self.capabilities(engine):  # the monitor rotates at the byte
        assert all(p.stat().st_size <= 8192 + 200 for p in log.parent.glob("container.log*"))
    numbers = [int(r.message.split(b"-")[1]) async for r in engine.logs(container.id)]
    assert numbers == list(range(numbers[0], 400)) and numbers[0] > 0  # oldest dropped, no gap


async def test_pause_resume(self: SuiteBase, engine: Engine, busybox: str) -> None:
    self.require(engine, "pause")

    async def count() -> int:
        return len(await self.output(engine, container.id))

    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, counter())
        await until(lambda: Path(container.log_path).stat().st_size > 0, "first output")
        await engine.pause(container.id)
        assert engine.inspect(container.id).state.status == State.PAUSED
        with pytest.raises(Conflict):
            await engine.exec_run(container.id, ["true"])
        await anyio.sleep(0.3)  # output already on its way may still land
        frozen = await count()
        await anyio.sleep(1.0)
        assert await count() == frozen, "a paused container kept running"

        await engine.resume(container.id)
        assert engine.inspect(container.id).state.status == State.RUNNING
        deadline = anyio.current_time() + 10
        while await count() <= frozen + 2:
            assert anyio.current_time() < deadline, "no progress after resume"
            await anyio.sleep(0.1)

        # A paused container stops promptly: it is thawed to receive the signal.
        await engine.pause(container.id)
        stopped = await engine.stop(container.id, timeout=10)
        assert stopped.state.status == State.EXITED


# -- resources ------------------------------------------------------------------


async def test_memory_limit_applied(self: SuiteBase, engine: Engine, busybox: str) -> None:
    self.require(engine, "resources", "exec")
    limit = 64 * 1024 * 1024
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, LONG, resources=Resources(memory=limit))
        code, out, err = await engine.exec_run(container.id, ["sh", "-c", _MEMORY_LIMIT])
        assert code == 0, err
        assert int(out.split()[0]) == limit


# -- restart policies -------------------------------------------------------------


async def test_restart_on_failure_stops_after_the_retry_count(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    policy = RestartPolicy(name="on-failure", maximum_retry_count=2)
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, ["sh", "-c", "exit 3"], restart_policy=policy)

        def settled() -> bool:
            state = engine.inspect(container.id).state
            return state.restart_count == 2 and state.status == State.EXITED

        await until(settled, "two restarts")
        await anyio.sleep(1.0)  # room for a third restart that must not come
        state = engine.inspect(container.id).state
        assert (state.status, state.restart_count, state.exit_code) == (State.EXITED, 2, 3)
        dies = engine.events.history(
            EventFilter(filters={"container": [container.id], "event": ["die"]})
        )
        assert len(dies) == 3


async def test_restart_always(self: SuiteBase, engine: Engine, busybox: str) -> None:
    policy = RestartPolicy(name="always")
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, ["sh", "-c", "exit 0"], restart_policy=policy)
        await until(
            lambda: engine.inspect(container.id).state.restart_count >= 2,
            "the container to restart twice",
        )
        await engine.stop(container.id, timeout=5)
        count = engine.inspect(container.id).state.restart_count
        await anyio.sleep(1.0)
        state = engine.inspect(container.id).state
        assert (state.status, state.restart_count) == (State.EXITED, count)


async def test_stop_does_not_restart_always_policy(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    policy = RestartPolicy(name="always")
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, LONG, restart_policy=policy)
        await engine.stop(container.id, timeout=10)
        await anyio.sleep(1.0)
        state = engine.inspect(container.id).state
        assert (state.status, state.restart_count) == (State.EXITED, 0)


# -- engine restart ---------------------------------------------------------------


async def test_containers_survive_engine_restart(
    self: SuiteBase, engine_factory: EngineFactory, busybox_rootfs: Path
) -> None:
    with anyio.fail_after(self.timeout):
        async with engine_factory() as first:
            self.require(first, "restore")
            image = await import_busybox(first, busybox_rootfs)
            long = await self.run(first, image, LONG)
            short = await self.run(first, image, ["sh", "-c", "sleep 1; echo done; exit 5"])
        # The engine is gone; the short one exits while nobody watches.
        log = Path(short.log_path)
        await until(lambda: log.exists() and b"done" in log.read_bytes(), "short's output")
        await anyio.sleep(0.5)

        async with engine_factory() as second:
            state = second.inspect(short.id).state
            assert (state.status, state.exit_code) == (State.EXITED, 5)
            assert await second.wait(short.id) == 5
            assert await self.output(second, short.id) == ["done"]

            assert second.inspect(long.id).state.status == State.RUNNING
            stopped = await second.stop(long.id, timeout=10)
            assert stopped.state.status == State.EXITED
            for container in (long, short):
                await second.remove(container.id)
