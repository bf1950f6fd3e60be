"""The engine's own start and stop: store, plugins, task group, parts, services.

``Lifetime`` opens the database and the image store, loads the plugins,
enters the task group the parts run their watchers in, builds the parts and
reconciles before the engine takes requests; on stop it cancels the watchers
and closes the store. Containers keep running under their monitors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import anyio
import anyio.abc

from pouch import cgroups
from pouch.config import EngineConfig
from pouch.drivers import Service
from pouch.engine._logspace import LogSpace
from pouch.engine._parts import Parts, build
from pouch.errors import InvalidArgument
from pouch.events import EventBus
from pouch.images import ImageStore
from pouch.kernel import Kernel
from pouch.store import Database
from pouch.telemetry import operation

__all__ = ["Lifetime"]

log = logging.getLogger(__name__)


class Lifetime:
    def __init__(
        self,
        config: EngineConfig,
        kernel: Kernel,
        events: EventBus,
        plugins: Sequence[tuple[str, object]],
    ) -> None:
        self.config = config
        self.kernel = kernel
        self.events = events
        self.plugins = list(plugins)
        self.store: ImageStore | None = None
        self._db: Database | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    async def start(
        self,
        engine: object,
        default_runtime: Callable[[], str],
        ready: Callable[[Parts | None], None],
    ) -> None:
        """Open the state, load plugins, build and reconcile the parts.

        ``ready`` receives the parts before ``pouch_engine_started`` runs (its
        hooks use the engine), and None again when the start fails.
        """
        if self.config.cgroup_manager == "systemd" and not cgroups.systemd_booted():
            raise InvalidArgument(
                "systemd is not this host's init (no /run/systemd/system): use the"
                " cgroupfs cgroup manager",
                field="cgroup_manager",
            )
        for directory in (self.config.root, self.config.run_root):
            directory.mkdir(parents=True, exist_ok=True, mode=0o711)
            if self.config.userns_remap:  # a remapped root must pass through them
                directory.chmod(0o711)
        self._db = Database(self.config.db_path)
        self.store = ImageStore(self.config.root, self._db)
        self.kernel.load()
        for name, plugin in self.plugins:
            self.kernel.register(plugin, name)
        self._tg = tg = anyio.create_task_group()
        await tg.__aenter__()
        try:
            parts = build(
                self.config, self.kernel, self.events, self._db, self.store, tg, default_runtime
            )
            with operation("engine.start"):
                await parts.networks.ensure_default()
                await parts.reconciler.reconcile()
            ready(parts)
            self.kernel.call("pouch_engine_started", engine=engine)
            space = LogSpace(parts.records.list, self.config.root)
            tg.start_soon(space.watch, name="log space")
            for service, plugin in self.kernel.services:
                tg.start_soon(_serve, service, plugin, name=f"service {service.name}")
        except BaseException:
            await self.stop(engine)
            ready(None)
            raise

    async def stop(self, engine: object) -> None:
        try:
            self.kernel.call("pouch_engine_stopping", engine=engine)
        except Exception:
            log.exception("a pouch_engine_stopping hook failed")
        if self._tg is not None:
            tg, self._tg = self._tg, None
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
        if self._db is not None:
            self._db.close()
            self._db = None


async def _serve(service: Service, plugin: str) -> None:
    try:
        await service.serve()
    except Exception:
        log.exception("service %s of plugin %s stopped with an error", service.name, plugin)
