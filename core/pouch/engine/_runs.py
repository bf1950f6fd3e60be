"""Runs: a container's process from start to recorded exit.

``Runs`` is the moving half of the state machine; its callers hold the
container's lock. Each start begins a *run*: the sandbox is set up, the
runtime creates and starts the container, and a watcher task awaits the
runtime's ``wait`` and records the exit once, whoever sees it first (the
watcher, or ``stop`` which waits for the same run). After the exit the run's
sandbox and runtime state are released and the restart policy is applied.
"""

from __future__ import annotations

import functools
import logging
import shutil
import signal as signals
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec

from pouch import oci
from pouch.config import EngineConfig
from pouch.drivers import (
    Capability,
    ExitStatus,
    LogReopener,
    Mount,
    Runtime,
    RuntimeContainer,
    Sandbox,
)
from pouch.engine._etc_files import append_hosts
from pouch.engine._health import Healthchecks
from pouch.engine._joins import release_shm, start_joins
from pouch.engine._logrotate import LogRotations, generations
from pouch.engine._records import Records, call_hook
from pouch.engine._restarts import Restarts
from pouch.engine._sandboxes import Sandboxes
from pouch.errors import PouchError
from pouch.images import ImageStore
from pouch.kernel import Kernel
from pouch.models import Container, State, parse_size
from pouch.telemetry import operation, step

__all__ = ["Run", "Runs"]

log = logging.getLogger(__name__)


def _log_max_size(container: Container) -> int:
    """Bytes of log before rotation; with the ``none`` driver the log only feeds
    attached clients, so it is kept small."""
    default = "1m" if container.config.log_driver == "none" else "0"
    return parse_size(container.config.log_options.get("max-size", default))


class Run:
    """One start of a container's process, until its exit is recorded."""

    def __init__(self, status: ExitStatus | None = None) -> None:
        self.exited = anyio.Event()
        self.status = status
        self.handled = False
        self.scope = anyio.CancelScope()


class Runs:
    def __init__(
        self,
        config: EngineConfig,
        kernel: Kernel,
        records: Records,
        sandboxes: Sandboxes,
        images: ImageStore,
        task_group: anyio.abc.TaskGroup,
        auto_remove: Callable[[str], Coroutine[Any, Any, None]],
        health: Healthchecks,
    ) -> None:
        self.config = config
        self.kernel = kernel
        self.records = records
        self.sandboxes = sandboxes
        self.images = images
        self.task_group = task_group
        self._auto_remove = auto_remove
        self.health = health
        self.restarts = Restarts(config, records, task_group, self._restart)
        self._runs: dict[str, Run] = {}
        self.log_rotations = LogRotations(task_group)

    def runtime(self, container: Container) -> Runtime:
        return self.kernel.runtimes.get(container.runtime)

    def bundle(self, container: Container) -> Path:
        return self.config.run_root / "containers" / container.id

    # -- start ----------------------------------------------------------------

    async def _restart(self, container: Container) -> None:
        await self.start(container, manual=False)

    async def start(self, container: Container, *, manual: bool) -> Container:
        runtime = self.runtime(container)
        bundle = self.bundle(container)
        with operation("container.start", container_id=container.id, runtime=runtime.name):
            try:
                with step("runtime.delete", reason="stale"):
                    await runtime.delete(container.id)  # what a previous run left
                with step("sandbox.setup"):
                    sandbox = await self.sandboxes.setup(container, runtime)
                with step("record.save"):
                    self.records.put(container)  # what to release, should we crash now
                with step("rootfs.mount"):
                    rootfs, etc = await anyio.to_thread.run_sync(
                        self._prepare, container, sandbox, bundle
                    )
                spec = msgspec.json.decode(container.spec, type=oci.Spec)
                link_hosts = start_joins(self.records, container, spec, rootfs)
                spec.mounts += etc
                append_hosts(Path(sandbox.hosts_path), link_hosts)
                request = RuntimeContainer(
                    id=container.id,
                    sandbox=sandbox,
                    spec=spec,
                    rootfs=rootfs,
                    bundle=bundle,
                    log_path=Path(container.log_path),
                    log_max_size=_log_max_size(container),
                    log_max_files=generations(container),
                )
                with step("runtime.create"):
                    await runtime.create(request)
                with step("runtime.start"):
                    state = await runtime.start(container.id)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await self.cleanup(container, runtime)
                    container.state.error = str(exc)
                    restarting = container.state.status == State.RESTARTING
                    if restarting:
                        container.state.status = State.EXITED
                    self.records.put(container)
                    if restarting:  # waiters learn that it will not run again
                        self.records.publish(
                            container, "die", exitCode=str(container.state.exit_code)
                        )
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
        self.health.reset(container)
        self.records.put(container)
        self.watch(container)
        self.records.publish(container, "start")
        call_hook(self.kernel, "pouch_container_started", container=container)
        return container

    def _prepare(
        self, container: Container, sandbox: Sandbox, bundle: Path
    ) -> tuple[list[Mount], list[oci.Mount]]:
        """The blocking part of a start, on a worker thread: the bundle directory,
        the /etc files (and their mounts), the root filesystem's mounts."""
        bundle.mkdir(parents=True, exist_ok=True)
        etc = self.sandboxes.etc_mounts(container, sandbox)
        return self.images.mounts(container.id), etc

    async def cleanup(
        self, container: Container, runtime: Runtime | None, *, network_later: bool = False
    ) -> None:
        """Undo a run: runtime state, sandbox, bundle. Safe to repeat.

        ``network_later``: the sandbox's network is released in the background.
        """
        if runtime is not None:
            try:
                with step("runtime.delete"):
                    await runtime.delete(container.id)
            except Exception:
                log.exception("container %s: runtime delete failed", container.short_id)
        with step("sandbox.teardown"):
            await self.sandboxes.teardown(container, runtime, network_later=network_later)
        await anyio.to_thread.run_sync(self._remove_files, container)

    def _remove_files(self, container: Container) -> None:
        release_shm(container)
        shutil.rmtree(self.bundle(container), True)

    # -- exit -----------------------------------------------------------------

    def watch(self, container: Container) -> None:
        """Follow the running container until its exit is recorded."""
        self._rotate_log(container)
        run = Run()
        self._runs[container.id] = run
        self.task_group.start_soon(
            self._watcher, container.id, run, name=f"watch {container.short_id}"
        )
        self.health.watch(container)

    def _rotate_log(self, container: Container) -> None:
        """Rotate the log while the container runs, unless its runtime's monitor does."""
        max_size = _log_max_size(container)
        if not max_size or container.runtime not in self.kernel.runtimes:
            return
        runtime = self.runtime(container)
        if Capability.LOG_ROTATION in runtime.describe().capabilities:
            return
        reopen = (
            functools.partial(runtime.reopen_log, container.id)
            if isinstance(runtime, LogReopener)
            else None
        )
        self.log_rotations.keep(
            container.id, Path(container.log_path), max_size, generations(container), reopen
        )

    async def _watcher(self, container_id: str, run: Run) -> None:
        with run.scope:
            container = self.records.get(container_id)
            if container is None:
                return
            try:
                with step("container.wait", **{"container.id": container_id}):
                    run.status = await self.runtime(container).wait(container_id)
            except Exception as exc:
                log.warning("container %s: lost track of its process: %s", container_id[:12], exc)
                run.status = ExitStatus(exit_code=255, finished_at=time.time())
            run.exited.set()
            async with self.records.lock(container_id):
                with step("container.exit", **{"container.id": container_id}):
                    await self.record_exit(container_id, run)

    async def record_exit(self, container_id: str, run: Run) -> None:
        """Record the run's exit once; then apply the restart policy."""
        if run.handled or run.status is None:
            return
        run.handled = True
        self.health.stop(container_id)
        self.log_rotations.stop(container_id)
        if self._runs.get(container_id) is run:
            del self._runs[container_id]
        container = self.records.get(container_id)
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
            error=status.error,
        )
        # Kept before the cleanup deletes the runtime's copy of the exit: a crash
        # during the cleanup then leaves an exited record, which reconciliation
        # cleans up again. The network is released after the exit is told; a
        # container removed on exit (--rm) is cleaned up by its removal.
        self.records.put(container)
        restart = self.restarts.should_restart(container)
        if restart or not container.config.auto_remove:
            with anyio.CancelScope(shield=True):
                await self.cleanup(container, self.runtime(container), network_later=True)
            self.records.put(container)
        self.records.publish(container, "die", exitCode=str(status.exit_code))
        call_hook(
            self.kernel, "pouch_container_exited", container=container, exit_code=status.exit_code
        )
        if restart:
            self.restarts.schedule(container)
        elif container.config.auto_remove:
            self.task_group.start_soon(
                self._auto_remove, container.id, name=f"auto-remove {container.short_id}"
            )

    async def await_exit(self, container_id: str, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the process to exit and record it
        (docker's kill with SIGKILL returns once the container is dead)."""
        run = self._runs.get(container_id)
        if run is None:
            return
        with anyio.move_on_after(timeout):
            await run.exited.wait()
        if run.exited.is_set():
            await self.record_exit(container_id, run)

    async def stop(self, container: Container, sig: int, grace: float) -> Container:
        """Signal, wait ``grace`` seconds, SIGKILL; return once the exit is recorded."""
        runtime = self.runtime(container)
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
                await self.record_exit(container.id, run)
                await self.sandboxes.releases.settled(container.sandbox_id or container.id)
            else:
                await self.cleanup(container, runtime)
        self.records.publish(container, "stop")
        return self.records.get(container.id) or container
