"""Conformance tests of the state machine: create, start, wait, kill, stop, remove.

Every test drives the runtime through the Engine API only and is bounded by
``anyio.fail_after``; the states asserted are the ones ``inspect`` shows a user.

Bound into ``RuntimeConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import pytest

from pouch.errors import Conflict, NoSuchContainer, NotSupported
from pouch.events import EventFilter
from pouch.models import State
from pouch.testing._suite import LONG, STUBBORN, SuiteBase

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__: list[str] = []


async def test_lifecycle_states(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        container = await self.create(engine, busybox, LONG)
        assert engine.inspect(container.id).state.status == State.CREATED
        assert container.id in {c.id for c in engine.list(all=True)}
        assert container.id not in {c.id for c in engine.list()}

        started = await engine.start(container.id)
        assert started.state.status == State.RUNNING
        assert engine.inspect(container.id).state.status == State.RUNNING
        assert container.id in {c.id for c in engine.list()}

        await engine.stop(container.id, timeout=10)
        state = engine.inspect(container.id).state
        assert state.status == State.EXITED
        assert state.exit_code == await engine.wait(container.id)
        assert state.finished_at >= state.started_at > 0

        await engine.remove(container.id)
        with pytest.raises(NoSuchContainer):
            engine.inspect(container.id)
        assert container.id not in {c.id for c in engine.list(all=True)}
        assert container.id not in await self.held_by_runtime(engine)


async def test_run_to_completion(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, ["sh", "-c", "echo hello"])
        assert await engine.wait(container.id) == 0
        state = engine.inspect(container.id).state
        assert (state.status, state.exit_code) == (State.EXITED, 0)
        assert await self.output(engine, container.id) == ["hello"]
        await engine.remove(container.id)
        with pytest.raises(NoSuchContainer):
            engine.inspect(container.id)
        assert container.id not in await self.held_by_runtime(engine)


async def test_exit_code(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, ["sh", "-c", "exit 7"])
        assert await engine.wait(container.id) == 7
        state = engine.inspect(container.id).state
        assert (state.status, state.exit_code) == (State.EXITED, 7)
        # An exited container starts again, and exits the same way.
        await engine.start(container.id)
        assert await engine.wait(container.id, "not-running") == 7
        assert engine.inspect(container.id).state.exit_code == 7


async def test_signal_kills(self: SuiteBase, engine: Engine, busybox: str) -> None:
    if "namespaces" in self.capabilities(engine):
        # An init in a PID namespace ignores SIGTERM without a handler (as
        # docker's `sleep` does); the handler exits the way SIGTERM would.
        cmd = ["sh", "-c", "trap 'exit 143' TERM; echo ready; while :; do sleep 0.1; done"]
    else:
        cmd = ["sh", "-c", "echo ready; exec sleep 100"]
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, cmd)
        # Signalled once it says so: a slow start (a VM) must not meet the
        # signal before the handler is set.
        while await self.output(engine, container.id) != ["ready"]:
            await anyio.sleep(0.05)
        await engine.kill(container.id, "SIGTERM")
        assert await engine.wait(container.id) == 143
        state = engine.inspect(container.id).state
        assert (state.status, state.exit_code) == (State.EXITED, 143)
        with pytest.raises(Conflict):
            await engine.kill(container.id, "SIGTERM")


async def test_sigkill(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, STUBBORN)
        await engine.kill(container.id)  # SIGKILL by default
        assert await engine.wait(container.id) == 137
        assert engine.inspect(container.id).state.status == State.EXITED


async def test_stop_after_timeout(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, STUBBORN)
        await anyio.sleep(0.3)  # let the shell set its trap
        began = time.monotonic()
        stopped = await engine.stop(container.id, timeout=1)
        took = time.monotonic() - began
        assert 0.9 <= took < 8, f"stop(timeout=1) took {took:.1f}s"
        assert stopped.state.status == State.EXITED
        assert await engine.wait(container.id) == 137
        assert engine.inspect(container.id).state.exit_code == 137


async def test_stop_is_quick_for_a_process_that_exits(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, LONG)
        await anyio.sleep(0.3)
        began = time.monotonic()
        await engine.stop(container.id, timeout=30)
        took = time.monotonic() - began
        assert took < 5, f"stop of a process that exits on SIGTERM took {took:.1f}s"
        assert engine.inspect(container.id).state.status == State.EXITED


async def test_illegal_transitions(self: SuiteBase, engine: Engine, busybox: str) -> None:
    can_pause = "pause" in self.capabilities(engine)
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, LONG)
        with pytest.raises(Conflict):
            await engine.remove(container.id)
        assert engine.inspect(container.id).state.status == State.RUNNING
        # Starting a running container changes nothing (docker answers 304).
        again = await engine.start(container.id)
        assert again.state.status == State.RUNNING
        if can_pause:
            with pytest.raises(Conflict):
                await engine.resume(container.id)
        await engine.stop(container.id, timeout=10)
        with pytest.raises(Conflict if can_pause else NotSupported):
            await engine.pause(container.id)
        with pytest.raises(Conflict):
            await engine.kill(container.id)
        assert engine.inspect(container.id).state.status == State.EXITED


async def test_force_remove_running(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, STUBBORN)
        began = time.monotonic()
        await engine.remove(container.id, force=True)
        took = time.monotonic() - began
        assert took < 10, f"force remove took {took:.1f}s: it should not wait for SIGTERM"
        with pytest.raises(NoSuchContainer):
            engine.inspect(container.id)
        assert container.id not in await self.held_by_runtime(engine)


async def test_events(self: SuiteBase, engine: Engine, busybox: str) -> None:
    wanted = {"create", "start", "die", "destroy"}
    seen: list[tuple[str, dict[str, str]]] = []
    with anyio.fail_after(self.timeout):
        async with engine.events.subscribe(EventFilter(filters={"type": ["container"]})) as events:
            container = await self.run(engine, busybox, ["sh", "-c", "exit 5"])
            assert await engine.wait(container.id) == 5
            await engine.remove(container.id)
            async for event in events:
                if event.id != container.id or event.action not in wanted:
                    continue
                seen.append((event.action, event.attributes))
                if event.action == "destroy":
                    break
    assert [action for action, _ in seen] == ["create", "start", "die", "destroy"]
    assert seen[2][1]["exitCode"] == "5"
    assert all(attributes["name"] == container.name for _, attributes in seen)


async def test_concurrent_operations(self: SuiteBase, engine: Engine, busybox: str) -> None:
    with anyio.fail_after(self.timeout * 2):
        for order, force in itertools.product(
            itertools.permutations(("start", "stop", "remove")), (False, True)
        ):
            container = await self.create(engine, busybox, LONG)
            operations: dict[str, Callable[[], Awaitable[object]]] = {
                "start": functools.partial(engine.start, container.id),
                "stop": functools.partial(engine.stop, container.id, timeout=5),
                "remove": functools.partial(engine.remove, container.id, force=force),
            }
            async with anyio.create_task_group() as tg:
                for name in order:
                    tg.start_soon(_tolerating_refusal, operations[name])
            await _check_consistent(self, engine, container.id)


async def _check_consistent(self: SuiteBase, engine: Engine, container_id: str) -> None:
    try:
        state = engine.inspect(container_id).state
    except NoSuchContainer:
        assert container_id not in await self.held_by_runtime(engine)
        return
    assert state.status in (State.CREATED, State.RUNNING, State.EXITED), state
    if state.status == State.RUNNING:
        assert await engine.stop(container_id, timeout=5)
    await engine.remove(container_id, force=True)
    assert container_id not in await self.held_by_runtime(engine)


async def _tolerating_refusal(operation: Callable[[], Awaitable[object]]) -> None:
    """Run ``operation``; a refusal is a fine outcome of a race, nothing else is."""
    with contextlib.suppress(Conflict, NoSuchContainer):
        await operation()
