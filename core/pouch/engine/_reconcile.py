"""Reconciliation: the records made to agree with the runtimes after a (re)start.

Runs once as the engine starts, before it takes requests. Containers the
runtimes hold but the store does not know are deleted; containers the store
thinks are running are watched again, or their exit is recorded with the code
the runtime kept; what a crash left half-made (attachments, namespaces) is
released; volume publications to containers that no longer exist are
undone; restart policies that should act again are scheduled. Last, the
repairs sweep what no record names at all (``_repair``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio.abc

from pouch.drivers import ExitStatus
from pouch.engine._records import Records
from pouch.engine._repair import Repairs
from pouch.engine._runs import Run, Runs
from pouch.engine._volumes import Volumes
from pouch.errors import NoSuchObject
from pouch.kernel import Kernel
from pouch.models import Container, State

__all__ = ["Reconciler"]

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self,
        kernel: Kernel,
        records: Records,
        runs: Runs,
        volumes: Volumes,
        task_group: anyio.abc.TaskGroup,
        auto_remove: Callable[[str], Coroutine[Any, Any, None]],
        repairs: Repairs,
    ) -> None:
        self.kernel = kernel
        self.records = records
        self.runs = runs
        self.volumes = volumes
        self.task_group = task_group
        self._auto_remove = auto_remove
        self.repairs = repairs

    async def reconcile(self) -> None:
        """Make the records agree with the runtimes after a (re)start of the engine."""
        records = self.records.all()
        known = {c.id for c in records}
        for runtime in list(self.kernel.runtimes):
            try:
                held = await runtime.list()
            except Exception as exc:
                log.warning("runtime %s: cannot list containers: %s", runtime.name, exc)
                continue
            for orphan in (s.id for s in held if s.id not in known):
                log.info("runtime %s: removing unknown container %s", runtime.name, orphan[:12])
                try:
                    await runtime.delete(orphan)
                except Exception:
                    log.exception("runtime %s: removing %s failed", runtime.name, orphan[:12])
        for container in records:
            async with self.records.lock(container.id):
                await self._reconcile_one(container)
        await self.volumes.reconcile()
        await self.runs.sandboxes.releases.settled()  # releases after exits recorded above
        # Sandboxes that hold a network now; an exited container's release
        # may have been cut short, and its record no longer names what it held.
        live = {c.sandbox_id or c.id for c in self.records.all() if c.attachments or c.netns_path}
        for driver in list(self.kernel.networks):
            try:
                await driver.gc(live)
            except Exception:
                log.exception("network driver %s: gc failed", driver.name)
        await self.repairs.sweep()

    async def _reconcile_one(self, container: Container) -> None:
        if container.runtime not in self.kernel.runtimes:
            log.warning(
                "container %s: runtime %r is not available; state left as %s",
                container.short_id,
                container.runtime,
                container.state.status,
            )
            return
        runtime = self.runs.runtime(container)
        try:
            state = await runtime.state(container.id)
        except NoSuchObject:
            state = None
        if state is not None and state.status in ("running", "paused"):
            container.state.status = State.RUNNING if state.status == "running" else State.PAUSED
            container.state.pid = state.pid
            self.records.put(container)
            self.runs.watch(container)
            return
        if container.state.status == State.RESTARTING:
            if state is not None:
                await self.runs.cleanup(container, runtime)
            self.runs.restarts.schedule(container)  # the engine stopped during the back-off
            return
        if container.state.status in (State.RUNNING, State.PAUSED):
            run = Run()
            if state is not None and state.exit_code is not None:
                run.status = ExitStatus(
                    exit_code=state.exit_code,
                    finished_at=state.finished_at or time.time(),
                    oom_killed=state.oom_killed,
                    error=state.error,
                )
            else:
                run.status = ExitStatus(
                    exit_code=255,
                    finished_at=time.time(),
                    error="the container's process was lost while pouch was down",
                )
            await self.runs.record_exit(container.id, run)
        else:
            if state is not None or container.attachments or container.netns_path:
                await self.runs.cleanup(container, runtime)
                self.records.put(container)
            if container.config.auto_remove and container.state.status == State.EXITED:
                self.task_group.start_soon(self._auto_remove, container.id)
                return
            policy = container.config.restart_policy.name
            if (
                container.state.status == State.EXITED
                and policy in ("always", "unless-stopped")
                and not container.state.stopped_by_user
            ):
                self.runs.restarts.schedule(container)
