"""Containers: the state machine's public operations on one existing container.

Start, stop, kill, restart, pause, resume, update, rename, remove and wait,
each under the container's lock and each refusing what its state does not
allow, with an error that says what to do instead. The moving parts of a run
(start, exit, restart policy) are ``Runs``'; removal releases the run, the
volumes, the root filesystem and the record, in that order.
"""

from __future__ import annotations

import logging
import shutil
import signal as signals
from collections.abc import Sequence
from typing import Any, Literal

import anyio
import msgspec

from pouch import oci
from pouch.drivers import Capability, Runtime
from pouch.engine._filters import prune_selects
from pouch.engine._names import validate_name
from pouch.engine._records import ACTIVE, Records, call_hook
from pouch.engine._releases import Releases
from pouch.engine._runs import Runs
from pouch.engine._volumes import Volumes
from pouch.errors import Conflict, InvalidArgument, NoSuchContainer, NoSuchObject, NotSupported
from pouch.events import EventFilter
from pouch.images import ImageStore
from pouch.kernel import Kernel
from pouch.models import Container, Resources, State, parse_signal
from pouch.telemetry import operation

__all__ = ["Containers", "require"]

# How long a kill with SIGKILL waits for the exit it causes.
_KILL_WAIT = 10.0

log = logging.getLogger(__name__)


def require(runtime: Runtime, capability: Capability) -> None:
    """Refuse, naming the runtime, what it does not declare it can do."""
    if capability not in runtime.describe().capabilities:
        raise NotSupported(f"the {runtime.name} runtime does not support {capability}")


class Containers:
    def __init__(
        self,
        kernel: Kernel,
        records: Records,
        runs: Runs,
        volumes: Volumes,
        images: ImageStore,
        releases: Releases | None = None,
    ) -> None:
        self.kernel = kernel
        self.records = records
        self.runs = runs
        self.volumes = volumes
        self.images = images
        self.releases = releases or Releases(None)

    async def start(self, ref: str) -> Container:
        container = self.records.lookup(ref)
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            status = container.state.status
            if status == State.RUNNING:
                return container  # docker answers 304: nothing to do
            if status == State.PAUSED:
                raise Conflict(f"container {container.name} is paused; unpause it instead")
            if status == State.DEAD:
                raise Conflict(f"container {container.name} is dead; remove it")
            self.runs.restarts.cancel(container.id)
            return await self.runs.start(container, manual=True)

    async def stop(
        self, ref: str, *, timeout: int | None = None, signal: str | None = None
    ) -> Container:
        """Send the stop signal, wait ``timeout`` seconds, then SIGKILL."""
        container = self.records.lookup(ref)
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            container.state.stopped_by_user = True
            self.records.put(container)
            self.runs.restarts.cancel(container.id)
            if container.state.status == State.RESTARTING:
                container.state.status = State.EXITED
                self.records.put(container)
                self.records.publish(container, "stop")
                return container
            if container.state.status not in (State.RUNNING, State.PAUSED):
                return container
            grace = container.config.stop_timeout if timeout is None else timeout
            sig = signal or _stop_signal(container)
            return await self.runs.stop(container, parse_signal(sig), grace)

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> Container:
        try:
            number = parse_signal(signal)
        except ValueError as exc:
            raise InvalidArgument(str(exc), field="signal") from None
        container = self.records.lookup(ref)
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            if container.state.status not in (State.RUNNING, State.PAUSED):
                raise Conflict(f"container {container.name} is not running")
            if container.state.status == State.PAUSED and number == signals.SIGKILL:
                await self.runs.runtime(container).resume(container.id)
            await self.runs.runtime(container).kill(container.id, number)
            self.records.publish(container, "kill", signal=str(number))
            if number == signals.SIGKILL:
                await self.runs.await_exit(container.id, _KILL_WAIT)
            return self.records.get(container.id) or container

    async def restart(self, ref: str, *, timeout: int | None = None) -> Container:
        container = await self.stop(ref, timeout=timeout)
        return await self.start(container.id)

    async def pause(self, ref: str) -> Container:
        return await self._freeze(ref, pause=True)

    async def resume(self, ref: str) -> Container:
        return await self._freeze(ref, pause=False)

    async def _freeze(self, ref: str, *, pause: bool) -> Container:
        container = self.records.lookup(ref)
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            runtime = self.runs.runtime(container)
            require(runtime, Capability.PAUSE)
            want, need = (State.PAUSED, State.RUNNING) if pause else (State.RUNNING, State.PAUSED)
            if container.state.status != need:
                raise Conflict(
                    f"container {container.name} is {container.state.status}, not {need}"
                )
            with operation(
                "container.pause" if pause else "container.resume",
                container_id=container.id,
                runtime=runtime.name,
            ):
                await (runtime.pause if pause else runtime.resume)(container.id)
            container.state.status = want
            self.records.put(container)
            self.records.publish(container, "pause" if pause else "unpause")
            return container

    async def update(
        self, ref: str, resources: Resources, *, restart_policy: Any = None
    ) -> Container:
        """Change limits; applied at once to a running container, kept for the next start."""
        container = self.records.lookup(ref)
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            given = {
                f: getattr(resources, f)
                for f in resources.__struct_fields__
                if getattr(resources, f) is not None
            }
            merged = msgspec.structs.replace(container.config.resources, **given)
            merged = msgspec.convert(msgspec.to_builtins(merged), Resources)
            spec = msgspec.json.decode(container.spec, type=oci.Spec)
            new = oci.resources_from(merged)
            if spec.linux is not None and spec.linux.resources is not None:
                new.devices = spec.linux.resources.devices
                spec.linux.resources = new
            if given and container.state.status in (State.RUNNING, State.PAUSED):
                runtime = self.runs.runtime(container)
                require(runtime, Capability.UPDATE)
                await runtime.update(container.id, oci.resources_from(merged))
            container.config.resources = merged
            if restart_policy is not None:
                if container.config.auto_remove and restart_policy.name != "no":
                    raise Conflict(
                        f"container {container.name} removes itself on exit "
                        "and cannot have a restart policy"
                    )
                container.config.restart_policy = restart_policy
            container.spec = msgspec.json.encode(spec)
            self.records.put(container)
            self.records.publish(container, "update")
            return container

    async def rename(self, ref: str, new_name: str) -> Container:
        new_name = validate_name(new_name)
        container = self.records.lookup(ref)
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            old = container.name
            container.name = new_name
            self.records.put(container)  # Conflict when the name is taken
            self.records.publish(container, "rename", oldName=old)
            return container

    # -- removal ---------------------------------------------------------------

    async def remove(
        self, ref: str, *, force: bool = False, volumes: bool = False, settle: bool = True
    ) -> None:
        """Remove a container. With ``settle`` (the API's removal) everything it held
        is released when this returns; without (``--rm``), the record, the name and
        the volumes are, and the runtime state, network and snapshot follow in the
        background."""
        container = self.records.lookup(ref)
        with operation("container.remove", container_id=container.id, runtime=container.runtime):
            await self._remove_locked(container, force=force, volumes=volumes, settle=settle)
        self.records.forget_lock(container.id)
        if settle:
            await self.releases.settled(container.sandbox_id or container.id)

    async def _remove_locked(
        self, container: Container, *, force: bool, volumes: bool, settle: bool
    ) -> None:
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            status = container.state.status
            if status in (State.RUNNING, State.PAUSED) and not force:
                verb = "a paused" if status == State.PAUSED else "a running"
                raise Conflict(
                    f"You cannot remove {verb} container {container.id}. Stop the container"
                    " before attempting removal or force remove"
                )
            self.runs.restarts.cancel(container.id)
            if status in (State.RUNNING, State.PAUSED):
                container.state.stopped_by_user = True
                await self.runs.stop(container, int(signals.SIGKILL), 0)
            await self._destroy(container, volumes=volumes, later=not settle)

    async def prune(
        self,
        *,
        until: float | None = None,
        labels: Sequence[str] = (),
        not_labels: Sequence[str] = (),
    ) -> list[str]:
        """Remove stopped containers created before ``until`` whose labels match; their IDs.

        ``labels`` / ``not_labels`` are ``key`` or ``key=value`` specs (docker's
        ``label`` and ``label!`` filters).
        """
        deleted = []
        for container in self.records.all():
            if container.state.status in ACTIVE:
                continue
            if not prune_selects(
                container.created_at,
                container.config.labels,
                until=until,
                labels=labels,
                not_labels=not_labels,
            ):
                continue
            try:
                await self.remove(container.id)
            except (NoSuchContainer, Conflict):
                continue  # removed or started meanwhile
            deleted.append(container.id)
        return deleted

    async def auto_remove(self, container_id: str) -> None:
        """What ``--rm`` does after the exit: remove with the anonymous volumes."""
        try:
            await self.remove(container_id, force=True, volumes=True, settle=False)
        except NoSuchObject:
            pass  # removed by someone else first
        except Exception:
            log.exception("container %s: automatic removal failed", container_id[:12])

    async def _destroy(self, container: Container, *, volumes: bool, later: bool = False) -> None:
        known = container.runtime in self.kernel.runtimes
        runtime = self.runs.runtime(container) if known else None
        if later and runtime is not None and self._releasable_later(runtime):
            with anyio.CancelScope(shield=True):
                await self.volumes.release_all(container, remove_anonymous=volumes)
                self.records.delete(container.id)
                self.runs.restarts.forget(container.id)
            self.records.publish(container, "destroy")

            async def release() -> None:
                await self._release(container, runtime)

            key = container.sandbox_id or container.id
            self.releases.start(key, release, name=f"remove {container.short_id}")
            return
        with anyio.CancelScope(shield=True):
            await self.runs.cleanup(container, runtime)
            await self.volumes.release_all(container, remove_anonymous=volumes)
            await self._release_files(container)
            self.records.delete(container.id)
            self.runs.restarts.forget(container.id)
        self.records.publish(container, "destroy")
        call_hook(self.kernel, "pouch_container_removed", container=container)

    @staticmethod
    def _releasable_later(runtime: Runtime) -> bool:
        """Nothing of the container is left in use on the host once its process is
        gone (a VM is, until deleted), and its sandbox is the engine's."""
        capabilities = runtime.describe().capabilities
        return Capability.DELETE_LATER in capabilities and Capability.SANDBOXES not in capabilities

    async def _release(self, container: Container, runtime: Runtime) -> None:
        """What a removal leaves to the background: the runtime state, the network,
        the snapshot and the container's directory."""
        await self.runs.cleanup(container, runtime)
        await self._release_files(container)
        call_hook(self.kernel, "pouch_container_removed", container=container)

    async def _release_files(self, container: Container) -> None:
        def release() -> None:
            self.images.release(container.id)
            shutil.rmtree(container.home, True)

        await anyio.to_thread.run_sync(release)

    # -- waiting -----------------------------------------------------------------

    async def wait(
        self, ref: str, condition: Literal["not-running", "next-exit", "removed"] = "not-running"
    ) -> int:
        """Block until the condition holds; return the last exit code (docker's wait)."""
        container = self.records.lookup(ref)
        flt = EventFilter(filters={"container": [container.id]})
        async with self.records.events.subscribe(flt) as stream:
            current = self.records.get(container.id)
            if current is None:
                if condition == "removed":
                    return container.state.exit_code or 0
                raise NoSuchContainer(ref)
            if condition == "not-running" and current.state.status not in ACTIVE:
                return current.state.exit_code or 0
            exit_code = current.state.exit_code or 0
            async for event in stream:
                if event.action == "destroy":
                    return exit_code
                latest = self.records.get(container.id)
                if latest is None:
                    return exit_code
                exit_code = latest.state.exit_code or 0
                if event.action == "die":
                    exit_code = int(event.attributes.get("exitCode", exit_code))
                    if condition == "next-exit":
                        return exit_code
                if condition == "not-running" and latest.state.status not in ACTIVE:
                    return exit_code
        return exit_code


def _stop_signal(container: Container) -> str:
    spec = msgspec.json.decode(container.spec, type=oci.Spec)
    return spec.annotations.get(oci.ANNOTATION_STOP_SIGNAL, container.config.stop_signal)
