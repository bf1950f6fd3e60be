"""The engine: one lifecycle state machine for every runtime.

``Engine`` is an async context manager that owns a task group, the store, the
image store and the plugin kernel. Every public operation on a container takes
that container's lock, so concurrent requests are serialised per container and
never interleave half-way. The runtimes' monitors keep containers running
while the engine is away; when it comes back, ``_reconcile`` makes the records
agree with what the runtimes report.

What the engine must not do: look at host PIDs or mount anything itself. It
hands runtimes a sandbox, a spec and mount *descriptions*.
"""

from __future__ import annotations

import builtins
import logging
import secrets
import shutil
import signal as signals
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.abc
import msgspec

from pouch import oci
from pouch._attach import AttachOps
from pouch._container_ops import ContainerOps
from pouch._image_archive import ImageArchiveOps
from pouch._image_ops import ImageOps
from pouch._logrotate import keep_generations
from pouch._names import generate_name, validate_name
from pouch._undo import Undo
from pouch.config import EngineConfig
from pouch.errors import Conflict, InvalidArgument, NoSuchContainer
from pouch.events import EventBus, EventFilter
from pouch.images import ImageStore
from pouch.kernel import Kernel, PluginStatus
from pouch.models import Container, ContainerConfig, State, parse_signal
from pouch.store import ContainerTable, Database, NetworkTable
from pouch.telemetry import operation

__all__ = ["Engine"]

log = logging.getLogger(__name__)

_ACTIVE = (State.RUNNING, State.PAUSED, State.RESTARTING)


class Engine(ContainerOps, ImageOps, ImageArchiveOps, AttachOps):
    """A container engine usable as a library::

    async with Engine(EngineConfig(root=..., run_root=...)) as engine:
        c = await engine.create(ContainerConfig(image="busybox", cmd=["echo", "hi"]))
        await engine.start(c.id)
        print(await engine.wait(c.id))
    """

    def __init__(
        self, config: EngineConfig | None = None, *, plugins: Sequence[tuple[str, object]] = ()
    ) -> None:
        self.config = config or EngineConfig()
        self.kernel = Kernel(self.config)
        self.events = EventBus()
        self._extra_plugins = list(plugins)
        self._db: Database | None = None
        super().__init__()

    # -- engine start and stop ------------------------------------------------

    async def __aenter__(self) -> Engine:
        for directory in (self.config.root, self.config.run_root):
            directory.mkdir(parents=True, exist_ok=True, mode=0o711)
        self._db = Database(self.config.db_path)
        self.containers = ContainerTable(self._db)
        self.networks = NetworkTable(self._db)
        self.images = ImageStore(self.config.root, self._db)
        self.kernel.load()
        for name, plugin in self._extra_plugins:
            self.kernel.register(plugin, name)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            with operation("engine.start"):
                await self.ensure_default_network()
                await self._reconcile()
            self.kernel.call("pouch_engine_started", engine=self)
            self._tg.start_soon(
                keep_generations, lambda: list(self._rotating.values()), name="log generations"
            )
            for service, plugin in self.kernel.services:
                self._tg.start_soon(self._serve, service, plugin, name=f"service {service.name}")
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        # Containers keep running under their monitors; only our watchers stop.
        try:
            self.kernel.call("pouch_engine_stopping", engine=self)
        except Exception:
            log.exception("a pouch_engine_stopping hook failed")
        if self._tg is not None:
            tg, self._tg = self._tg, None
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _serve(self, service: Any, plugin: str) -> None:
        try:
            await service.serve()
        except Exception:
            log.exception("service %s of plugin %s stopped with an error", service.name, plugin)

    def register_plugin(self, plugin: object, name: str) -> PluginStatus:
        """Register a plugin object after start; its drivers become available at once."""
        return self.kernel.register(plugin, name)

    def plugins(self) -> list[PluginStatus]:
        return self.kernel.plugins()

    # -- lookup -------------------------------------------------------------

    def inspect(self, ref: str) -> Container:
        return self.lookup(ref)

    def list(
        self, *, all: bool = False, filters: dict[str, list[str]] | None = None
    ) -> builtins.list[Container]:
        from pouch._filters import check_filters, container_matches

        check_filters(filters or {})
        found = []
        for container in self.containers.all():
            if not all and container.state.status not in _ACTIVE:
                continue
            if filters and not container_matches(container, filters):
                continue
            found.append(container)
        return found

    # -- create ---------------------------------------------------------------

    async def create(self, config: ContainerConfig, *, name: str | None = None) -> Container:
        """Validate, resolve the image, build the spec, prepare the root filesystem."""
        runtime_name = config.runtime or self.config.default_runtime
        runtime = self.kernel.runtimes.get(runtime_name)
        networks = config.networks or [self.config.default_network]
        for network in networks:
            self.kernel.networks.get(self.network_get(network).driver)
        if "host" in networks and len(networks) > 1:
            raise InvalidArgument(
                "the host network cannot be combined with others", field="networks"
            )
        generated = not name
        name = validate_name(name) if name else self._free_name()
        if self.containers.by_name(name) is not None:
            raise Conflict(f"the container name {name!r} is already in use")
        image = await anyio.to_thread.run_sync(self.images.resolve, config.image)
        container_id = secrets.token_hex(32)
        with operation("container.create", container_id=container_id, runtime=runtime.name):
            container = Container(
                id=container_id,
                name=name,
                config=config,
                image_id=image.id,
                runtime=runtime.name,
                created_at=time.time(),
                sandbox_id=container_id,
                log_path=str(self.config.root / "containers" / container_id / "container.log"),
            )
            async with Undo(f"create {container_id[:12]}") as undo:
                mounts = await self._volume_mounts(container, undo)
                spec = oci.build_spec(
                    config,
                    image=image.config,
                    container_id=container_id,
                    hostname=config.hostname or container_id[:12],
                    mounts=mounts,
                )
                self.kernel.call("pouch_container_create", container=container, spec=spec)
                container.spec = msgspec.json.encode(spec)
                Path(container.log_path).parent.mkdir(parents=True, exist_ok=True)
                undo.push("container dir", self._remove_dir(Path(container.log_path).parent))
                await anyio.to_thread.run_sync(self.images.rootfs, container_id, image)
                undo.push("rootfs", self._release_rootfs(container_id))
                self._add_record(container, generated=generated)
        self._publish(container, "create")
        return container

    def _add_record(self, container: Container, *, generated: bool) -> None:
        """Store the new record; a generated name taken meanwhile is drawn again."""
        for _ in range(20):
            try:
                self.containers.add(container)
                return
            except Conflict:
                if not generated:
                    raise
                container.name = self._free_name()
        self.containers.add(container)

    def _free_name(self) -> str:
        for _ in range(50):
            name = generate_name()
            if self.containers.by_name(name) is None:
                return name
        return f"{generate_name()}_{secrets.token_hex(3)}"

    async def _volume_mounts(self, container: Container, undo: Undo) -> builtins.list[oci.Mount]:
        mounts = []
        for mount in container.config.mounts:
            if mount.type != "volume":
                continue
            driver = self.kernel.volumes.get(mount.driver or self.config.default_volume_driver)
            volume = mount.source or secrets.token_hex(32)
            try:
                info = await driver.get(volume)
            except LookupError:
                info = await driver.create(volume, {}, {})
            staged = await driver.stage(info)
            published = await driver.publish(staged, container.id, read_only=mount.read_only)
            undo.push(f"volume {volume}", _bound(driver.unpublish, staged, container.id))
            container.volumes.append((driver.name, volume))
            mounts.append(
                oci.Mount(
                    destination=mount.target,
                    type=published.type,
                    source=published.source,
                    options=[*published.options, *mount.options],
                )
            )
        return mounts

    def _remove_dir(self, path: Path) -> Any:
        async def step() -> None:
            await anyio.to_thread.run_sync(shutil.rmtree, path, True)

        return step

    def _release_rootfs(self, container_id: str) -> Any:
        async def step() -> None:
            await anyio.to_thread.run_sync(self.images.release, container_id)

        return step

    # -- operations on one container ---------------------------------------------

    async def start(self, ref: str) -> Container:
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            status = container.state.status
            if status == State.RUNNING:
                return container  # docker answers 304: nothing to do
            if status == State.PAUSED:
                raise Conflict(f"container {container.name} is paused; unpause it instead")
            if status == State.DEAD:
                raise Conflict(f"container {container.name} is dead; remove it")
            self._cancel_restart(container.id)
            return await self._start_locked(container, manual=True)

    async def stop(
        self, ref: str, *, timeout: int | None = None, signal: str | None = None
    ) -> Container:
        """Send the stop signal, wait ``timeout`` seconds, then SIGKILL."""
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            container.state.stopped_by_user = True
            self.containers.put(container)
            self._cancel_restart(container.id)
            if container.state.status == State.RESTARTING:
                container.state.status = State.EXITED
                self.containers.put(container)
                self._publish(container, "stop")
                return container
            if container.state.status not in (State.RUNNING, State.PAUSED):
                return container
            grace = container.config.stop_timeout if timeout is None else timeout
            sig = signal or self._stop_signal(container)
            return await self._stop_locked(container, parse_signal(sig), grace)

    def _stop_signal(self, container: Container) -> str:
        spec = msgspec.json.decode(container.spec, type=oci.Spec)
        return spec.annotations.get(oci.ANNOTATION_STOP_SIGNAL, container.config.stop_signal)

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> Container:
        try:
            number = parse_signal(signal)
        except ValueError as exc:
            raise InvalidArgument(str(exc), field="signal") from None
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            if container.state.status not in (State.RUNNING, State.PAUSED):
                raise Conflict(f"container {container.name} is not running")
            await self._runtime(container).kill(container.id, number)
            self._publish(container, "kill", signal=str(number))
            return container

    async def restart(self, ref: str, *, timeout: int | None = None) -> Container:
        container = await self.stop(ref, timeout=timeout)
        return await self.start(container.id)

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            status = container.state.status
            if status in (State.RUNNING, State.PAUSED) and not force:
                raise Conflict(
                    f"cannot remove container {container.name}: it is {status}; "
                    "stop it first or remove with force"
                )
            self._cancel_restart(container.id)
            if status in (State.RUNNING, State.PAUSED):
                container.state.stopped_by_user = True
                await self._stop_locked(container, int(signals.SIGKILL), 0)
            await self._destroy(container, volumes=volumes)
        self._locks.pop(container.id, None)

    async def wait(
        self, ref: str, condition: Literal["not-running", "next-exit", "removed"] = "not-running"
    ) -> int:
        """Block until the condition holds; return the last exit code (docker's wait)."""
        container = self.lookup(ref)
        flt = EventFilter(filters={"container": [container.id]})
        async with self.events.subscribe(flt) as stream:
            current = self.containers.get(container.id)
            if current is None:
                if condition == "removed":
                    return container.state.exit_code or 0
                raise NoSuchContainer(ref)
            if condition == "not-running" and current.state.status not in _ACTIVE:
                return current.state.exit_code or 0
            exit_code = current.state.exit_code or 0
            async for event in stream:
                if event.action == "destroy":
                    return exit_code
                latest = self.containers.get(container.id)
                if latest is None:
                    return exit_code
                exit_code = latest.state.exit_code or 0
                if event.action == "die":
                    exit_code = int(event.attributes.get("exitCode", exit_code))
                    if condition == "next-exit":
                        return exit_code
                if condition == "not-running" and latest.state.status not in _ACTIVE:
                    return exit_code
        return exit_code


def _bound(func: Any, *args: Any) -> Any:
    async def step() -> None:
        await func(*args)

    return step
