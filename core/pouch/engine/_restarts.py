"""Restart policies: whether an exited container runs again, and when.

``Restarts`` decides from the policy (``no``, ``on-failure[:N]``, ``always``,
``unless-stopped``) and schedules the start after a back-off that doubles while
the container keeps failing fast. The start itself is the lifecycle's,
handed in as a function; a stop or removal cancels a pending restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc

from pouch.config import EngineConfig
from pouch.engine._records import Records
from pouch.models import Container, State

__all__ = ["Restarts"]

log = logging.getLogger(__name__)

# A container that ran this long before exiting restarts without back-off.
_HEALTHY_RUN = 10.0


class Restarts:
    def __init__(
        self,
        config: EngineConfig,
        records: Records,
        task_group: anyio.abc.TaskGroup,
        start: Callable[[Container], Awaitable[object]],
    ) -> None:
        self.config = config
        self.records = records
        self.task_group = task_group
        self._start = start
        self._pending: dict[str, anyio.CancelScope] = {}
        self._delays: dict[str, float] = {}

    def should_restart(self, container: Container) -> bool:
        policy = container.config.restart_policy
        if policy.name == "no" or container.state.stopped_by_user:
            return False
        if policy.name == "on-failure":
            if container.state.exit_code == 0:
                return False
            limit = policy.maximum_retry_count
            return not limit or container.state.restart_count < limit
        return True

    def schedule(self, container: Container) -> None:
        """Mark it restarting and start it after the back-off (the caller holds its lock)."""
        ran_for = container.state.finished_at - container.state.started_at
        previous = self._delays.get(container.id, 0.0)
        if ran_for >= _HEALTHY_RUN or not previous:
            delay = self.config.restart_delay
        else:
            delay = min(previous * 2, self.config.restart_delay_max)
        self._delays[container.id] = delay
        container.state.status = State.RESTARTING
        self.records.put(container)
        scope = anyio.CancelScope()
        self._pending[container.id] = scope
        self.task_group.start_soon(
            self._later, container.id, delay, scope, name=f"restart {container.short_id}"
        )

    async def _later(self, container_id: str, delay: float, scope: anyio.CancelScope) -> None:
        with scope:
            await anyio.sleep(delay)
            async with self.records.lock(container_id):
                if self._pending.get(container_id) is scope:
                    del self._pending[container_id]
                container = self.records.get(container_id)
                if container is None or container.state.status != State.RESTARTING:
                    return
                container.state.restart_count += 1
                try:
                    await self._start(container)
                    self.records.publish(container, "restart")
                except Exception as exc:
                    log.warning("container %s: restart failed: %s", container.short_id, exc)

    def cancel(self, container_id: str) -> None:
        scope = self._pending.pop(container_id, None)
        if scope is not None:
            scope.cancel()

    def forget(self, container_id: str) -> None:
        self.cancel(container_id)
        self._delays.pop(container_id, None)
