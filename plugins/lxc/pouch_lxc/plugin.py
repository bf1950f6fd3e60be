"""Registration of the lxc runtime driver (not implemented yet).

The hook checks for the liblxc tools and reports what is missing, but always
ends in ``PluginSkip``: no runtime is registered until the driver exists.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from pouch.errors import PluginSkip
from pouch.markers import hookimpl

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Runtime

__all__ = ["host_problem", "pouch_add_runtimes"]

# The liblxc tools the driver will run; all come with the Debian package lxc.
LXC_PROGRAMS = ("lxc-start", "lxc-attach", "lxc-stop", "lxc-info")


def host_problem() -> str | None:
    """Say what this host lacks for the driver, or ``None`` when nothing is missing."""
    missing = [program for program in LXC_PROGRAMS if shutil.which(program) is None]
    if missing:
        return f"{', '.join(missing)} not found on PATH; install the Debian package lxc"
    return None


@hookimpl
def pouch_add_runtimes(config: EngineConfig) -> list[Runtime]:
    problem = host_problem()
    if problem is not None:
        raise PluginSkip(f"lxc: {problem}")
    raise PluginSkip("lxc: not implemented yet")
