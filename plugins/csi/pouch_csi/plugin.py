"""Registration of the CSI volume driver (not implemented yet).

There is nothing on the host to check before a CSI driver's socket is
configured, so the hook skips at once: no volume driver is registered until
the client exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pouch.errors import PluginSkip
from pouch.markers import hookimpl

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import VolumeDriver

__all__ = ["pouch_add_volume_drivers"]


@hookimpl
def pouch_add_volume_drivers(config: EngineConfig) -> list[VolumeDriver]:
    raise PluginSkip("csi: not implemented yet")
