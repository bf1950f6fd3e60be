"""The state machine's moving parts: start, exit, restart policy, reconciliation.

``Lifecycle`` is the half of ``Engine`` that changes states; the callers hold the
container's lock. Each start begins a *run*: a watcher task awaits the
runtime's ``wait`` and records the exit once, whoever sees it first (the
watcher, or ``stop`` which waits for the same run).
"""

from __future__ import annotations

import logging
import shutil
import signal as signals
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import msgspec

from pouch import oci
from pouch._logrotate import generations
from pouch._sandbox import SandboxOps
from pouch.drivers import ExitStatus, Runtime, RuntimeContainer
from pouch.errors import InvalidArgument, NoSuchContainer, NoSuchObject, PouchError
from pouch.events import Event
from pouch.models import Container, State, parse_size
from pouch.telemetry import operation

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.events import EventBus
    from pouch.images import ImageStore
    from pouch.kernel import Kernel
    from pouch.store import ContainerTable

__all__ = ["Lifecycle"]

log = logging.getLogger(__name__)

# A container that ran this long before exiting restarts without back-off.
_HEALTHY_RUN = 10.0


class _Run:
    """One start of a container's process, until its exit is recorded."""

    def __init__(self) -> None:
        self.exited = anyio.Event()
        self.status: ExitStatus | None = None
        self.handled = False
        self.scope = anyio.CancelScope()


class Lifecycle(SandboxOps):
    config: EngineConfig
    kernel: Kernel
    containers: ContainerTable
    images: ImageStore
    events: EventBus

    def __init__(self) -> None:
        self._tg: anyio.abc.TaskGroup | None = None
        self._locks: dict[str, anyio.Lock] = {}
        self._runs: dict[str, _Run] = {}
        self._restarts: dict[str, anyio.CancelScope] = {}
        self._delays: dict[str, float] = {}
        # Running containers that keep several log files: id -> (log, max-file).
        self._rotating: dict[str, tuple[Path, int]] = {}

    @property
    def task_group(self) -> anyio.abc.TaskGroup:
        if self._tg is None:
            raise RuntimeError("the engine is not running; use 'async with Engine(...)'")
        return self._tg

    def _lock(self, container_id: str) -> anyio.Lock:
        return self._locks.setdefault(container_id, anyio.Lock())

    if TYPE_CHECKING:

        async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
            """Provided by ``Engine``."""

    def _runtime(self, container: Container) -> Runtime:
        return self.kernel.runtimes.get(container.runtime)

    def _publish(self, container: Container, action: str, **extra: str) -> Event:
        attributes = {"name": container.name, "image": container.config.image}
        attributes.update(container.config.labels)
        attributes.update(extra)
        return self.events.publish("container", action, container.id, attributes)

    def lookup(self, ref: str) -> Container:
        """By full ID, by name, or by a unique ID prefix, as docker resolves them."""
        if not ref:
            raise InvalidArgument("container reference is empty", field="container")
        found = self.containers.get(ref) or self.containers.by_name(ref.lstrip("/"))
        if found is not None:
            return found
        if all(c in "0123456789abcdef" for c in ref):
            matches = self.containers.by_prefix(ref)
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(
                    f"{ref!r} matches {len(matches)} containers; give more of the ID",
                    field="container",
                )
        raise NoSuchContainer(ref)

    def _bundle(self, container: Container) -> Path:
        return self.config.run_root / "containers" / container.id

    # -- start ----------------------------------------------------------------

    async def _start_locked(self, container: Container, *, manual: bool) -> Container:
        runtime = self._runtime(container)
        bundle = self._bundle(container)
        with operation("container.start", container_id=container.id, runtime=runtime.name):
            try:
                await runtime.delete(container.id)  # what a previous run left
                bundle.mkdir(parents=True, exist_ok=True)
                sandbox = await self._attach_networks(container)
                self.containers.put(container)  # what to release, should we crash now
                rootfs = await anyio.to_thread.run_sync(self.images.mounts, container.id)
                spec = msgspec.json.decode(container.spec, type=oci.Spec)
                spec.mounts += self._etc_mounts(container, sandbox)
                request = RuntimeContainer(
                    id=container.id,
                    sandbox=sandbox,
                    spec=spec,
                    rootfs=rootfs,
                    bundle=bundle,
                    log_path=Path(container.log_path),
                    log_max_size=parse_size(container.config.log_options.get("max-size", "0")),
                )
                await runtime.create(request)
                state = await runtime.start(container.id)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await self._cleanup_run(container, runtime)
                    container.state.error = str(exc)
                    restarting = container.state.status == State.RESTARTING
                    if restarting:
                        container.state.status = State.EXITED
                    self.containers.put(container)
                    if restarting:  # waiters learn that it will not run again
                        self._publish(container, "die", exitCode=str(container.state.exit_code))
                raise
        container.state = msgspec.structs.replace(
            container.state,
            status=State.RUNNING,
            pid=state.pid,
            exit_code=None,
            error="",
            started_at=time.time(),
            finished_at=0.0,
            oom_killed=False,
            stopped_by_user=False if manual else container.state.stopped_by_user,
        )
        self.containers.put(container)
        self._watch(container)
        self._publish(container, "start")
        self._call_hook("pouch_container_started", container=container)
        return container

    async def _cleanup_run(self, container: Container, runtime: Runtime) -> None:
        """Undo a run: runtime state, networks, bundle. Safe to repeat."""
        try:
            await runtime.delete(container.id)
        except Exception:
            log.exception("container %s: runtime delete failed", container.short_id)
        await self._detach_networks(container)
        await anyio.to_thread.run_sync(shutil.rmtree, self._bundle(container), True)

    # -- exit -----------------------------------------------------------------

    def _watch(self, container: Container) -> None:
        if generations(container) > 1:
            self._rotating[container.id] = (Path(container.log_path), generations(container))
        run = _Run()
        self._runs[container.id] = run
        self.task_group.start_soon(
            self._watcher, container.id, run, name=f"watch {container.short_id}"
        )

    async def _watcher(self, container_id: str, run: _Run) -> None:
        with run.scope:
            container = self.containers.get(container_id)
            if container is None:
                return
            try:
                run.status = await self._runtime(container).wait(container_id)
            except Exception as exc:
                log.warning("container %s: lost track of its process: %s", container_id[:12], exc)
                run.status = ExitStatus(exit_code=255, finished_at=time.time())
            run.exited.set()
            async with self._lock(container_id):
                await self._record_exit(container_id, run)

    async def _record_exit(self, container_id: str, run: _Run) -> None:
        """Record the run's exit once; then apply the restart policy."""
        if run.handled or run.status is None:
            return
        run.handled = True
        self._rotating.pop(container_id, None)
        if self._runs.get(container_id) is run:
            del self._runs[container_id]
        container = self.containers.get(container_id)
        if container is None:
            return
        status = run.status
        container.state = msgspec.structs.replace(
            container.state,
            status=State.EXITED,
            pid=0,
            exit_code=status.exit_code,
            finished_at=status.finished_at or time.time(),
            oom_killed=status.oom_killed,
        )
        with anyio.CancelScope(shield=True):
            await self._cleanup_run(container, self._runtime(container))
        self.containers.put(container)
        self._publish(container, "die", exitCode=str(status.exit_code))
        self._call_hook("pouch_container_exited", container=container, exit_code=status.exit_code)
        if self._should_restart(container):
            self._schedule_restart(container)
        elif container.config.auto_remove:
            self.task_group.start_soon(
                self._auto_remove, container.id, name=f"auto-remove {container.short_id}"
            )

    async def _auto_remove(self, container_id: str) -> None:
        try:
            await self.remove(container_id, force=True, volumes=True)  # as docker's --rm
        except NoSuchObject:
            pass  # removed by someone else first
        except Exception:
            log.exception("container %s: automatic removal failed", container_id[:12])

    async def _stop_locked(self, container: Container, sig: int, grace: float) -> Container:
        runtime = self._runtime(container)
        run = self._runs.get(container.id)
        with operation("container.stop", container_id=container.id, runtime=runtime.name):
            if container.state.status == State.PAUSED:
                await runtime.resume(container.id)  # a frozen process cannot act on a signal
            await runtime.kill(container.id, sig)
            if run is not None:
                with anyio.move_on_after(grace):
                    await run.exited.wait()
                if not run.exited.is_set():
                    await runtime.kill(container.id, int(signals.SIGKILL))
                    with anyio.move_on_after(30):
                        await run.exited.wait()
                if not run.exited.is_set():
                    raise PouchError(f"container {container.name} did not die after SIGKILL")
                await self._record_exit(container.id, run)
            else:
                await self._cleanup_run(container, runtime)
        self._publish(container, "stop")
        return self.containers.get(container.id) or container

    # -- restart policies -----------------------------------------------------

    def _should_restart(self, container: Container) -> bool:
        policy = container.config.restart_policy
        if policy.name == "no" or container.state.stopped_by_user:
            return False
        if policy.name == "on-failure":
            if container.state.exit_code == 0:
                return False
            limit = policy.maximum_retry_count
            return not limit or container.state.restart_count < limit
        return True

    def _schedule_restart(self, container: Container) -> None:
        ran_for = container.state.finished_at - container.state.started_at
        previous = self._delays.get(container.id, 0.0)
        if ran_for >= _HEALTHY_RUN or not previous:
            delay = self.config.restart_delay
        else:
            delay = min(previous * 2, self.config.restart_delay_max)
        self._delays[container.id] = delay
        container.state.status = State.RESTARTING
        self.containers.put(container)
        scope = anyio.CancelScope()
        self._restarts[container.id] = scope
        self.task_group.start_soon(
            self._restart_later, container.id, delay, scope, name=f"restart {container.short_id}"
        )

    async def _restart_later(
        self, container_id: str, delay: float, scope: anyio.CancelScope
    ) -> None:
        with scope:
            await anyio.sleep(delay)
            async with self._lock(container_id):
                if self._restarts.get(container_id) is scope:
                    del self._restarts[container_id]
                container = self.containers.get(container_id)
                if container is None or container.state.status != State.RESTARTING:
                    return
                container.state.restart_count += 1
                try:
                    await self._start_locked(container, manual=False)
                    self._publish(container, "restart")
                except Exception as exc:
                    log.warning("container %s: restart failed: %s", container.short_id, exc)

    def _cancel_restart(self, container_id: str) -> None:
        scope = self._restarts.pop(container_id, None)
        if scope is not None:
            scope.cancel()

    # -- removal ---------------------------------------------------------------

    async def _destroy(self, container: Container, *, volumes: bool) -> None:
        runtime = self._runtime(container) if container.runtime in self.kernel.runtimes else None
        with anyio.CancelScope(shield=True):
            if runtime is not None:
                await self._cleanup_run(container, runtime)
            for driver_name, volume in container.volumes:
                try:
                    driver = self.kernel.volumes.get(driver_name)
                    staged = await driver.stage(await driver.get(volume))
                    await driver.unpublish(staged, container.id)
                    if not self._volume_users(driver_name, volume, container.id):
                        await driver.unstage(staged)
                    named = any(m.source == volume for m in container.config.mounts)
                    if volumes and not named:
                        await driver.remove(volume)
                except Exception:
                    log.exception(
                        "container %s: releasing volume %s failed", container.short_id, volume
                    )
            await anyio.to_thread.run_sync(self.images.release, container.id)
            await anyio.to_thread.run_sync(shutil.rmtree, Path(container.log_path).parent, True)
            self.containers.delete(container.id)
            self._delays.pop(container.id, None)
        self._publish(container, "destroy")
        self._call_hook("pouch_container_removed", container=container)

    def _volume_users(self, driver: str, volume: str, but: str) -> list[str]:
        return [
            c.id
            for c in self.containers.all()
            if c.id != but and (driver, volume) in [tuple(v) for v in c.volumes]
        ]

    def _call_hook(self, name: str, **kwargs: Any) -> None:
        try:
            self.kernel.call(name, **kwargs)
        except Exception:
            log.exception("hook %s failed", name)
