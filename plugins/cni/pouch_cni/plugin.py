"""Registration of the CNI ``bridge`` network driver, and its one lifecycle hook.

The driver is registered when the CNI plugin binaries it chains (bridge,
host-local, portmap, firewall) are found in the plugin directories and
iptables is installed; otherwise the plugin is skipped, naming what is missing
and the Debian package that has it. Settings: ``[plugin.cni]`` (see
``pouch_cni._settings`` and the README).
"""

from __future__ import annotations

import shutil
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from pouch.errors import PluginSkip
from pouch.markers import hookimpl
from pouch_cni._networks import PLUGINS
from pouch_cni._settings import DEFAULT_PLUGIN_DIRS, load_settings
from pouch_cni.driver import BridgeDriver

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import NetworkDriver
    from pouch.models import Container

__all__ = ["host_problem", "pouch_add_network_drivers", "pouch_container_started"]

# Kept for callers that look the defaults up here.
CNI_BIN_DIRS = DEFAULT_PLUGIN_DIRS
REQUIRED_PLUGINS = PLUGINS

# Every driver this process made (one per engine); the started hook finds the
# one holding a container's attachments.
_drivers: weakref.WeakSet[BridgeDriver] = weakref.WeakSet()


def host_problem(directories: tuple[Path, ...] | list[Path] | None = None) -> str | None:
    """Say what this host lacks for the driver, or ``None`` when nothing is missing."""
    dirs = list(directories if directories is not None else CNI_BIN_DIRS)
    missing = [
        name
        for name in REQUIRED_PLUGINS
        if not any((directory / name).is_file() for directory in dirs)
    ]
    if missing:
        where = " or ".join(str(d) for d in dirs)
        return (
            f"CNI plugins ({', '.join(missing)}) not found in {where}; "
            "install the Debian package containernetworking-plugins"
        )
    if shutil.which("iptables") is None and not Path("/usr/sbin/iptables").exists():
        return "iptables not found (the CNI plugins need it); install the Debian package iptables"
    return None


@hookimpl
def pouch_add_network_drivers(config: EngineConfig) -> list[NetworkDriver]:
    settings = load_settings(config)
    if "plugin_dirs" not in config.plugin_settings("cni"):
        settings.plugin_dirs = list(CNI_BIN_DIRS)
    problem = host_problem(settings.plugin_dirs)
    if problem is not None:
        raise PluginSkip(f"cni: {problem}")
    driver = BridgeDriver(settings, config.default_network)
    _drivers.add(driver)
    return [driver]


@hookimpl
def pouch_container_started(container: Container) -> None:
    """Re-sync the peers in the container's hosts file, which the engine just wrote.

    A peer that joined between this sandbox's ADD and the engine writing its
    hosts file would otherwise be missing from it.
    """
    sandbox = container.sandbox_id or container.id
    for driver in list(_drivers):
        driver.refresh_hosts(sandbox)
