"""``Engine``: the facade; each method is one call to the part that owns the work.

Starting and stopping is ``_lifetime``'s; the wiring of the parts, ``_parts``'."""

from __future__ import annotations

import builtins
import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pouch.builders import BuildOutput, BuildRequest
from pouch.config import EngineConfig
from pouch.drivers import Endpoint, ExecProcess, Stats
from pouch.engine._attach import Attached
from pouch.engine._builds import build, prune, unpacked_context
from pouch.engine._create import default_runtime, security_options
from pouch.engine._images import Images
from pouch.engine._lifetime import Lifetime
from pouch.engine._networks import Networks
from pouch.engine._parts import Part, Parts
from pouch.engine._volumes import Volumes
from pouch.events import EventBus
from pouch.kernel import Kernel, PluginStatus
from pouch.logs import LogRecord
from pouch.models import Container, ContainerConfig, ExecConfig, Resources

if TYPE_CHECKING:
    from pouch.engine._archive import ContainerFiles
    from pouch.engine._commit import Commits
    from pouch.engine._registry_lookup import RegistryLookup
    from pouch.engine._usage import DiskUsage

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

    images: Part[Images] = Part("The image API: pull, push, list, inspect, remove, save …")
    volumes: Part[Volumes] = Part("The volume API: create, inspect, list, remove, prune.")
    networks: Part[Networks] = Part("The network API: get, list, create, remove, prune.")
    files: Part[ContainerFiles] = Part("Files in containers: stat, get, put, export, changes.")
    commits: Part[Commits] = Part("Images of containers and their past: commit, history.")
    disk: Part[DiskUsage] = Part("Disk usage (df) and prunes that report the bytes freed.")
    registry: Part[RegistryLookup] = Part("Registries asked without pulling: search, inspect.")

    @property
    def default_runtime(self) -> str:
        """The configured runtime, else the one a plugin names, else the first loaded."""
        return default_runtime(self.config, self.kernel)

    # -- start and stop -------------------------------------------------------

    async def __aenter__(self) -> Engine:
        ready = functools.partial(setattr, self, "_parts")  # set before the started hooks
        await self._lifetime.start(self, lambda: self.default_runtime, ready)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._lifetime.stop(self)  # pouch_engine_stopping hooks still read
        finally:
            self._parts = None

    def register_plugin(self, plugin: object, name: str) -> PluginStatus:
        """Register a plugin object after start; its drivers become available at once."""
        return self.kernel.register(plugin, name)

    def plugins(self) -> builtins.list[PluginStatus]:
        return self.kernel.plugins()

    def security_options(self) -> builtins.list[str]:
        """What containers of the default runtime get, as ``docker info``'s ``SecurityOptions``."""
        return security_options(self.config, self.kernel, self.default_runtime)

    # -- containers -----------------------------------------------------------

    def lookup(self, ref: str) -> Container:
        """By full ID, by name, or by a unique ID prefix, as docker resolves them."""
        return self._p.records.lookup(ref)

    inspect = lookup

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

    async def settled(self) -> None:
        """Wait until what runs after exits and ``--rm`` removals has ended: network
        teardowns, runtime state and snapshots of removed containers."""
        await self._p.releases.settled()

    async def prune(self, **filters: Any) -> builtins.list[str]:
        """Remove stopped containers: ``until``, ``labels``, ``not_labels`` as docker's."""
        return await self._p.containers.prune(**filters)

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

    def logs(self, ref: str, **options: Any) -> AsyncIterator[LogRecord]:
        """Log records; ``follow``, ``since``, ``until``, ``tail`` as docker's."""
        return self._p.io.logs(ref, **options)

    async def reopen_log(self, ref: str) -> None:
        """A new log file at the log path (after log rotation by its owner, kubelet)."""
        await self._p.io.reopen_log(ref)

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

    async def network_connect(
        self, network: str, ref: str, endpoint: Endpoint | None = None
    ) -> Container:
        return await self._p.sandboxes.connect(network, ref, endpoint)

    async def network_disconnect(self, network: str, ref: str) -> Container:
        return await self._p.sandboxes.disconnect(network, ref)

    # -- builds ---------------------------------------------------------------

    async def build(self, request: BuildRequest, output: BuildOutput, *, builder: str = "") -> str:
        """Build an image with the builder named (else the first installed) and tag
        it with ``request.tags``; its ID."""
        return await build(self, request, output, builder)

    async def build_prune(self) -> builtins.list[str]:
        """Forget every builder's cache (``pouch builder prune``); the IDs removed."""
        return await prune(self)

    def build_context(self, archive: Path) -> AbstractAsyncContextManager[Path]:
        """``async with``: the context tar ``archive`` unpacked, for ``BuildRequest.context``."""
        return unpacked_context(self, archive)
