"""The API server: every endpoint module's routes in one app, served on listeners.

``Server`` is an async context manager that owns its task group: entering it
starts one accept loop per listener (ready when ``__aenter__`` returns);
leaving it stops accepting and cancels the open connections. Containers are
not its business: they keep running under their monitors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

from pouch.daemon import (
    api_archive,
    api_build,
    api_commit,
    api_container_io,
    api_containers,
    api_disk,
    api_exec,
    api_image_transfer,
    api_images,
    api_networks,
    api_registry,
    api_stats,
    api_swarm,
    api_system,
    api_volumes,
)
from pouch.daemon.context import Daemon
from pouch.daemon.http import ConnectionHandler
from pouch.daemon.routing import App, Router, common_headers, error_reply

__all__ = ["Server", "build_app", "build_router"]

log = logging.getLogger("pouch.daemon")


def build_router() -> Router:
    router = Router()
    # Fixed paths before templates that could also match them (/images/json
    # before /images/{name:path}/json is not needed, but /images/get is).
    for module in (
        api_system,
        api_containers,
        api_container_io,
        api_archive,
        api_build,
        api_commit,
        api_disk,
        api_stats,
        api_exec,
        api_image_transfer,
        api_registry,
        api_images,
        api_networks,
        api_volumes,
        api_swarm,
    ):
        router.include(module.routes)
    return router


def build_app(daemon: Daemon) -> App:
    return App(build_router(), daemon)


class Server:
    """``async with Server(app, listeners):`` serves until the block ends."""

    def __init__(self, app: App, listeners: Sequence[anyio.abc.Listener[Any]]) -> None:
        self.app = app
        self.listeners = list(listeners)
        self._handler = ConnectionHandler(app.dispatch, error_reply, common_headers)
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Server:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            for listener in self.listeners:
                await self._tg.start(self._accept, listener)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tg is not None:
            tg, self._tg = self._tg, None
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)

    async def _accept(
        self,
        listener: anyio.abc.Listener[Any],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        assert self._tg is not None
        async with listener:
            task_status.started()
            await listener.serve(self._handler, task_group=self._tg)
