"""Registration of the CNI network driver (not implemented yet).

The hook looks for the CNI plugin binaries and reports when they are missing,
but always ends in ``PluginSkip``: no network driver is registered until the
driver exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pouch.errors import PluginSkip
from pouch.markers import hookimpl

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import NetworkDriver

__all__ = ["host_problem", "pouch_add_network_drivers"]

# Where Debian's containernetworking-plugins puts them, then the upstream default.
CNI_BIN_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))
# The CNI plugins the driver's default network will chain.
REQUIRED_PLUGINS = ("bridge", "host-local", "loopback")


def host_problem() -> str | None:
    """Say what this host lacks for the driver, or ``None`` when nothing is missing."""
    for directory in CNI_BIN_DIRS:
        if all((directory / name).is_file() for name in REQUIRED_PLUGINS):
            return None
    dirs = " or ".join(str(d) for d in CNI_BIN_DIRS)
    return (
        f"CNI plugins ({', '.join(REQUIRED_PLUGINS)}) not found in {dirs}; "
        "install the Debian package containernetworking-plugins"
    )


@hookimpl
def pouch_add_network_drivers(config: EngineConfig) -> list[NetworkDriver]:
    problem = host_problem()
    if problem is not None:
        raise PluginSkip(f"cni: {problem}")
    raise PluginSkip("cni: not implemented yet")
