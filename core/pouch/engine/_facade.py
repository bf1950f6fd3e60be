"""``Engine``: the facade. Each public method is one call to the part that owns the work.

Starting and stopping the engine is ``_lifetime``'s; the wiring of the parts
is ``_parts``'.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, BinaryIO, Literal

from pouch.config import EngineConfig
from pouch.distribution import Distribution, ProgressCallback
from pouch.drivers import ExecProcess, Stats
from pouch.engine._attach import Attached
from pouch.engine._create import default_runtime
from pouch.engine._lifetime import Lifetime
from pouch.engine._parts import Parts
from pouch.engine._volumes import Volumes
from pouch.events import EventBus
from pouch.images import Collected, Image, ImageStore, Platform, Removal
from pouch.kernel import Kernel, PluginStatus
from pouch.logs import LogRecord
from pouch.models import Container, ContainerConfig, ExecConfig, Network, Resources
from pouch.oci.image import ImageConfig

__all__ = ["Engine"]


class Engine:
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
        self._lifetime = Lifetime(self.config, self.kernel, self.events, plugins)
        self._parts: Parts | None = None

    @property
    def _p(self) -> Parts:
        if self._parts is None:
            raise RuntimeError("the engine is not running; use 'async with Engine(...)'")
        return self._parts

    @property
    def images(self) -> ImageStore:
        """The image and layer store (content, snapshots, names)."""
        if self._lifetime.store is None:
            raise RuntimeError("the engine is not running; use 'async with Engine(...)'")
        return self._lifetime.store

    @property
    def volumes(self) -> Volumes:
        """The volume API: ``create``, ``inspect``, ``list``, ``remove``, ``prune``."""
        return self._p.volumes

    @property
    def distribution(self) -> Distribution:
        """The registry client of this engine."""
        return self._p.images.distribution

    @property
    def default_runtime(self) -> str:
        """The configured runtime, else the one a plugin names, else the first loaded."""
        return default_runtime(self.config, self.kernel)

    # -- start and stop -------------------------------------------------------

    async def __aenter__(self) -> Engine:
        self._parts = await self._lifetime.start(self, lambda: self.default_runtime)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._parts = None
        await self._lifetime.stop(self)

    def register_plugin(self, plugin: object, name: str) -> PluginStatus:
        """Register a plugin object after start; its drivers become available at once."""
        return self.kernel.register(plugin, name)

    def plugins(self) -> builtins.list[PluginStatus]:
        return self.kernel.plugins()

    # -- containers -----------------------------------------------------------

    def lookup(self, ref: str) -> Container:
        """By full ID, by name, or by a unique ID prefix, as docker resolves them."""
        return self._p.records.lookup(ref)

    def inspect(self, ref: str) -> Container:
        return self._p.records.lookup(ref)

    def list(
        self, *, all: bool = False, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[Container]:
        """Running containers (``all``: every one) matching docker's ``ps`` filters."""
        return self._p.records.list(all=all, filters=filters)

    async def create(self, config: ContainerConfig, *, name: str | None = None) -> Container:
        return await self._p.creator.create(config, name=name)

    async def start(self, ref: str) -> Container:
        return await self._p.containers.start(ref)

    async def stop(
        self, ref: str, *, timeout: int | None = None, signal: str | None = None
    ) -> Container:
        return await self._p.containers.stop(ref, timeout=timeout, signal=signal)

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> Container:
        return await self._p.containers.kill(ref, signal)

    async def restart(self, ref: str, *, timeout: int | None = None) -> Container:
        return await self._p.containers.restart(ref, timeout=timeout)

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        await self._p.containers.remove(ref, force=force, volumes=volumes)

    async def prune(
        self,
        *,
        until: float | None = None,
        labels: Sequence[str] = (),
        not_labels: Sequence[str] = (),
    ) -> builtins.list[str]:
        return await self._p.containers.prune(until=until, labels=labels, not_labels=not_labels)

    async def wait(
        self, ref: str, condition: Literal["not-running", "next-exit", "removed"] = "not-running"
    ) -> int:
        return await self._p.containers.wait(ref, condition)

    async def pause(self, ref: str) -> Container:
        return await self._p.containers.pause(ref)

    async def resume(self, ref: str) -> Container:
        return await self._p.containers.resume(ref)

    async def update(
        self, ref: str, resources: Resources, *, restart_policy: Any = None
    ) -> Container:
        return await self._p.containers.update(ref, resources, restart_policy=restart_policy)

    async def rename(self, ref: str, new_name: str) -> Container:
        return await self._p.containers.rename(ref, new_name)

    async def exec(self, ref: str, config: ExecConfig) -> tuple[str, ExecProcess]:
        return await self._p.io.exec(ref, config)

    async def exec_run(
        self, ref: str, cmd: builtins.list[str], **options: Any
    ) -> tuple[int, bytes, bytes]:
        return await self._p.io.exec_run(ref, cmd, **options)

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        since: float = 0.0,
        until: float = 0.0,
        tail: int | None = None,
    ) -> AsyncIterator[LogRecord]:
        return self._p.io.logs(ref, follow=follow, since=since, until=until, tail=tail)

    async def top(
        self, ref: str, ps_args: builtins.list[str]
    ) -> tuple[builtins.list[str], builtins.list[builtins.list[str]]]:
        return await self._p.io.top(ref, ps_args)

    async def stats(self, ref: str) -> Stats:
        return await self._p.io.stats(ref)

    def attach(
        self, ref: str, *, stdin: bool = False, logs: bool = False
    ) -> AbstractAsyncContextManager[Attached]:
        return self._p.attachments.attach(ref, stdin=stdin, logs=logs)

    # -- networks -------------------------------------------------------------

    def network_get(self, ref: str) -> Network:
        return self._p.networks.get(ref)

    def network_list(
        self, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[Network]:
        return self._p.networks.list(filters)

    async def network_prune(
        self, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[str]:
        return await self._p.networks.prune(filters)

    async def network_create(self, name: str, **options: Any) -> Network:
        return await self._p.networks.create(name, **options)

    async def network_remove(self, ref: str) -> None:
        await self._p.networks.remove(ref)

    async def network_connect(self, network: str, ref: str) -> Container:
        return await self._p.sandboxes.connect(network, ref)

    async def network_disconnect(self, network: str, ref: str) -> Container:
        return await self._p.sandboxes.disconnect(network, ref)

    # -- images ---------------------------------------------------------------

    async def image_list(self) -> builtins.list[Image]:
        return await self._p.images.list()

    async def image_inspect(self, ref: str) -> Image:
        return await self._p.images.inspect(ref)

    async def image_tag(self, ref: str, new_reference: str) -> Image:
        return await self._p.images.tag(ref, new_reference)

    async def image_remove(self, ref: str, *, force: bool = False) -> Removal:
        return await self._p.images.remove(ref, force=force)

    async def image_import(
        self, source: Any, reference: str, *, config: ImageConfig | None = None
    ) -> Image:
        return await self._p.images.import_rootfs(source, reference, config=config)

    async def image_prune(self) -> Collected:
        return await self._p.images.prune()

    async def image_save(self, refs: builtins.list[str], out: BinaryIO, **options: Any) -> None:
        await self._p.archives.save(refs, out, **options)

    async def image_load(self, source: BinaryIO, **options: Any) -> builtins.list[Image]:
        return await self._p.archives.load(source, **options)

    async def pull(
        self,
        ref: str,
        *,
        platform: str | Platform | None = None,
        progress: ProgressCallback | None = None,
    ) -> Image:
        return await self._p.images.pull(ref, platform=platform, progress=progress)

    async def push(self, ref: str, *, progress: ProgressCallback | None = None) -> str:
        return await self._p.images.push(ref, progress=progress)

    async def login(self, registry: str, username: str, password: str) -> str:
        return await self._p.images.login(registry, username, password)

    async def logout(self, registry: str) -> str:
        return await self._p.images.logout(registry)
