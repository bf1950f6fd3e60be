"""Healthchecks: probing running containers and recording what the probes find.

``Healthchecks`` keeps one monitor task per running container that has a
healthcheck, in the engine's task group under a cancel scope of its own.
Each probe is an exec through the container's runtime (so it works on every
runtime that can exec), killed when its timeout expires. Results go into the
container's record (``State.Health``: status, failing streak, the last five
probes) under the container's lock, and a change of status is published as
docker's ``health_status: healthy`` / ``unhealthy`` event. The runs start a
monitor when a container starts (or is watched again after pouchd restarted)
and stop it when the exit is recorded; this part never changes a container's
lifecycle state.
"""

from __future__ import annotations

import logging
import signal
import time

import anyio
import anyio.abc
import msgspec

from pouch.drivers import ExecProcess
from pouch.engine._records import Records
from pouch.models import (
    HEALTH_INTERVAL,
    HEALTH_RETRIES,
    HEALTH_START_INTERVAL,
    HEALTH_TIMEOUT,
    Container,
    ContainerConfig,
    ExecConfig,
    Health,
    Healthcheck,
    HealthResult,
    State,
)
from pouch.oci.image import ImageHealthcheck

TYPE_CHECKING = False
if TYPE_CHECKING:  # ContainerIO's module imports the runs, which import this one
    from pouch.engine._io import ContainerIO

__all__ = ["Healthchecks", "probe", "with_image_healthcheck"]

log = logging.getLogger(__name__)

MAX_LOG = 5  # probe results kept, as docker keeps them
MAX_OUTPUT = 4096  # bytes of a probe's output kept
_NS = 1e9


def with_image_healthcheck(
    config: ContainerConfig, image: ImageHealthcheck | None
) -> ContainerConfig:
    """The container's healthcheck with what it leaves unset taken from the image's."""
    if image is None or not image.Test:
        return config
    try:
        inherited = msgspec.convert(
            {
                "test": image.Test,
                "interval": image.Interval,
                "timeout": image.Timeout,
                "start_period": image.StartPeriod,
                "start_interval": image.StartInterval,
                "retries": image.Retries,
            },
            Healthcheck,
        )
    except msgspec.ValidationError as exc:
        log.warning("image %s: its healthcheck is ignored: %s", config.image, exc)
        return config
    own = config.healthcheck
    merged = inherited if own is None else own.merged(inherited)
    return msgspec.structs.replace(config, healthcheck=merged)


def _seconds(nanoseconds: int, default: int) -> float:
    return (nanoseconds or default) / _NS


def _go_duration(seconds: float) -> str:
    """1s, 1.5s, 500ms: how docker names a timeout in its message."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


async def probe(io: ContainerIO, container_id: str, check: Healthcheck) -> HealthResult:
    """Run the check once in the container; its result (exit code -1: not run or timed out)."""
    start = time.time()
    timeout = _seconds(check.timeout, HEALTH_TIMEOUT)
    try:
        _, proc = await io.exec(container_id, ExecConfig(cmd=check.command()))
    except Exception as exc:
        return HealthResult(start=start, end=time.time(), exit_code=-1, output=str(exc))
    output = bytearray()
    code: int | None = None
    try:
        with anyio.move_on_after(timeout):
            await proc.close_stdin()
            async for _, chunk in proc.output():
                output += chunk[: MAX_OUTPUT - len(output)]
            code = await proc.wait()
    finally:
        await _release(proc, finished=code is not None)
    if code is None:
        text = f"Health check exceeded timeout ({_go_duration(timeout)})"
        return HealthResult(start=start, end=time.time(), exit_code=-1, output=text)
    text = output.decode(errors="replace")
    return HealthResult(start=start, end=time.time(), exit_code=code, output=text)


async def _release(proc: ExecProcess, *, finished: bool) -> None:
    """Kill a probe still running (SIGTERM, which the runtime passes on, then SIGKILL)."""
    with anyio.CancelScope(shield=True):
        if not finished:
            for number, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0)):
                try:
                    await proc.kill(int(number))
                except Exception:
                    log.debug("killing a healthcheck probe failed", exc_info=True)
                with anyio.move_on_after(grace) as waited:
                    await proc.wait()
                if not waited.cancelled_caught:
                    break
        with anyio.move_on_after(2.0):
            try:
                await proc.aclose()
            except Exception:
                log.debug("closing a healthcheck probe failed", exc_info=True)


def judge(container: Container, check: Healthcheck, result: HealthResult) -> Health:
    """The container's health after ``result``, by docker's rules.

    A success makes it healthy; a failure counts towards ``retries`` unless the
    container is still starting within its start period.
    """
    previous = container.state.health or Health()
    health = msgspec.structs.replace(previous, log=[*previous.log, result][-MAX_LOG:])
    if result.exit_code == 0:
        health.failing_streak = 0
        health.status = "healthy"
        return health
    started = container.state.started_at
    if health.status == "starting" and result.start - started < check.start_period / _NS:
        return health
    health.failing_streak += 1
    if health.failing_streak >= (check.retries or HEALTH_RETRIES):
        health.status = "unhealthy"
    return health


class Healthchecks:
    """The monitors of the running containers' healthchecks, one cancel scope each."""

    def __init__(self, records: Records, io: ContainerIO, task_group: anyio.abc.TaskGroup) -> None:
        self.records = records
        self.io = io
        self.task_group = task_group
        self._monitors: dict[str, anyio.CancelScope] = {}

    @staticmethod
    def check(container: Container) -> Healthcheck | None:
        check = container.config.healthcheck
        return None if check is None or check.disabled else check

    def reset(self, container: Container) -> None:
        """A new start: its health is ``starting`` again (the log is kept, as docker keeps it)."""
        if self.check(container) is None:
            return
        previous = container.state.health
        container.state.health = Health(log=previous.log if previous else [])

    def watch(self, container: Container) -> None:
        """Probe the running container until ``stop`` (or its exit)."""
        self.stop(container.id)
        check = self.check(container)
        if check is None:
            return
        scope = anyio.CancelScope()
        self._monitors[container.id] = scope
        self.task_group.start_soon(
            self._monitor, container.id, check, scope, name=f"health {container.short_id}"
        )

    def stop(self, container_id: str) -> None:
        scope = self._monitors.pop(container_id, None)
        if scope is not None:
            scope.cancel()

    async def _monitor(
        self, container_id: str, check: Healthcheck, scope: anyio.CancelScope
    ) -> None:
        try:
            with scope:
                await self._probe_while_running(container_id, check)
        finally:
            if self._monitors.get(container_id) is scope:
                del self._monitors[container_id]

    async def _probe_while_running(self, container_id: str, check: Healthcheck) -> None:
        """Probe every interval; returns once the container no longer runs."""
        while True:
            container = self.records.get(container_id)
            if container is None or container.state.status not in (State.RUNNING, State.PAUSED):
                return
            await anyio.sleep(self._delay(container, check))
            container = self.records.get(container_id)
            if container is None or container.state.status != State.RUNNING:
                continue  # paused: no probe; gone: the loop's test ends it
            try:
                result = await probe(self.io, container_id, check)
                async with self.records.lock(container_id):
                    self._record(container_id, check, result)
            except Exception:
                log.exception("container %s: healthcheck failed", container_id[:12])

    @staticmethod
    def _delay(container: Container, check: Healthcheck) -> float:
        health = container.state.health
        starting = health is None or health.status == "starting"
        in_start_period = time.time() - container.state.started_at < check.start_period / _NS
        if starting and in_start_period:
            return _seconds(check.start_interval, HEALTH_START_INTERVAL)
        return _seconds(check.interval, HEALTH_INTERVAL)

    def _record(self, container_id: str, check: Healthcheck, result: HealthResult) -> None:
        container = self.records.get(container_id)
        if container is None or container.state.status != State.RUNNING:
            return  # it stopped while the probe ran
        before = container.state.health.status if container.state.health else "starting"
        container.state.health = health = judge(container, check, result)
        self.records.put(container)
        if health.status != before:
            self.records.publish(container, f"health_status: {health.status}")
