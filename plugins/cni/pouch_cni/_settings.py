"""The plugin's settings: ``[plugin.cni]`` in pouchd.toml, each with a default.

Everything pouch writes lives in directories pouch owns (under the state root
by default), so the plugin never touches ``/etc/cni/net.d`` or
``/var/lib/cni`` unless told to: point ``conf_dir`` at ``/etc/cni/net.d`` to
share networks with other CNI runtimes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from pouch.errors import InvalidArgument

if TYPE_CHECKING:
    from pouch.config import EngineConfig

__all__ = ["DEFAULT_PLUGIN_DIRS", "CNISettings", "load_settings"]

# Where Debian's containernetworking-plugins puts them, then the upstream default.
DEFAULT_PLUGIN_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))


class CNISettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Network configuration lists, one ``<network>.conflist`` per network.
    conf_dir: Path | None = None  # default <root>/cni/net.d
    # Searched in order for plugin binaries (also passed as CNI_PATH).
    plugin_dirs: list[Path] = msgspec.field(default_factory=lambda: list(DEFAULT_PLUGIN_DIRS))
    # The attachment cache (results for DEL/CHECK) and host-local's reservations.
    # Both persist, as libcni's /var/lib/cni: after a reboot the cache still
    # says which reservations to release.
    cache_dir: Path | None = None  # default <root>/cni/cache
    data_dir: Path | None = None  # default <root>/cni/networks
    # The default network (EngineConfig.default_network, "bridge").
    default_subnet: str = "10.213.0.0/16"
    default_gateway: str = ""
    default_bridge: str = "pouch0"
    # User networks created without --subnet get the first free block of the pool.
    subnet_pool: str = "10.214.0.0/16"
    pool_prefix: int = 24
    # "" picks the newest spec version every chained plugin supports.
    cni_version: str = ""
    # Seconds one plugin invocation may take.
    plugin_timeout: float = 60.0
    # Refuse user subnets that overlap a route of the host (a LAN, a VPN).
    check_host_routes: bool = True

    def resolved(self, config: EngineConfig) -> CNISettings:
        root = config.root / "cni"
        return msgspec.structs.replace(
            self,
            conf_dir=self.conf_dir or root / "net.d",
            cache_dir=self.cache_dir or root / "cache",
            data_dir=self.data_dir or root / "networks",
        )

    @property
    def conf(self) -> Path:
        assert self.conf_dir is not None
        return self.conf_dir

    @property
    def cache(self) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir

    @property
    def data(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir


def _decode(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise ValueError(f"expected a path, got {value!r}")


def load_settings(config: EngineConfig) -> CNISettings:
    """``[plugin.cni]`` over the defaults; InvalidArgument naming a bad key."""
    try:
        settings = msgspec.convert(
            config.plugin_settings("cni"), CNISettings, strict=False, dec_hook=_decode
        )
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"[plugin.cni]: {exc}") from None
    return settings.resolved(config)
