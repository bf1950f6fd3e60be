"""Registration of the ``csi`` volume driver and of pouchd's CSI service.

Both hooks share one ``CsiVolumes`` per engine root: the driver the engine
calls, and the service that runs configured drivers and retries unfinished
steps. Settings, under ``[plugin.csi]``: ``drivers`` (a table per driver,
see ``pouch_csi.registry``) and ``retry_interval`` (seconds, default 5).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pouch.errors import InvalidArgument
from pouch.markers import hookimpl
from pouch_csi._connections import Connections
from pouch_csi._records import Records
from pouch_csi.registry import Registry
from pouch_csi.service import CsiService
from pouch_csi.volumes import CsiVolumes

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Service, VolumeDriver

__all__ = ["pouch_add_services", "pouch_add_volume_drivers", "volumes_for"]

_volumes: dict[tuple[Path, Path], CsiVolumes] = {}


def volumes_for(config: EngineConfig) -> CsiVolumes:
    """The ``csi`` volume driver of the engine with ``config`` (made on first use)."""
    key = (config.root, config.run_root)
    if key not in _volumes:
        settings = config.plugin_settings("csi")
        unknown = sorted(set(settings) - {"drivers", "retry_interval"})
        if unknown:
            raise InvalidArgument(
                f"unknown setting(s) {', '.join(unknown)} (known: drivers, retry_interval)",
                field="plugin.csi",
            )
        registry = Registry(settings.get("drivers", {}), config.root / "csi" / "drivers.json")
        _volumes[key] = CsiVolumes(
            Connections(registry), Records(config.root / "csi" / "volumes"), config.run_root
        )
    return _volumes[key]


@hookimpl
def pouch_add_volume_drivers(config: EngineConfig) -> list[VolumeDriver]:
    return [volumes_for(config)]


@hookimpl
def pouch_add_services(config: EngineConfig) -> list[Service]:
    interval = float(config.plugin_settings("csi").get("retry_interval", 5.0))
    return [CsiService(volumes_for(config), config.run_root / "csi" / "logs", interval=interval)]
