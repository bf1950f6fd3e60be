"""Registration of the CRI server: a service of pouchd on the engine it runs.

``pouch_add_services`` makes the server (its socket from ``[plugin.cri]``);
``pouch_engine_started`` hands it the engine, before the engine starts its
services; one engine per process runs the plugin at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pouch.markers import hookimpl

from ._spec import adjust_spec
from .server import CriServer, socket_path

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Service
    from pouch.engine import Engine
    from pouch.models import Container
    from pouch.oci import Spec

__all__ = [
    "pouch_add_services",
    "pouch_container_create",
    "pouch_engine_started",
    "pouch_engine_stopping",
]


class _Plugin:
    server: CriServer | None = None


_plugin = _Plugin()


@hookimpl
def pouch_add_services(config: EngineConfig) -> list[Service]:
    _plugin.server = CriServer(socket_path(config))
    return [_plugin.server]


@hookimpl
def pouch_container_create(container: Container, spec: Spec) -> None:
    adjust_spec(container, spec)


@hookimpl
def pouch_engine_started(engine: Engine) -> None:
    if _plugin.server is not None:
        _plugin.server.engine = engine


@hookimpl
def pouch_engine_stopping(engine: Engine) -> None:
    if _plugin.server is not None and _plugin.server.engine is engine:
        _plugin.server.engine = None
