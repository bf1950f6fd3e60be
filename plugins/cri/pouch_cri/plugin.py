"""Registration of the CRI server (not implemented yet).

The hook skips at once: no service is registered until the server exists, so
no socket is opened that would answer kubelet with nothing behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pouch.errors import PluginSkip
from pouch.markers import hookimpl

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Service

__all__ = ["pouch_add_services"]


@hookimpl
def pouch_add_services(config: EngineConfig) -> list[Service]:
    raise PluginSkip("cri: not implemented yet")
