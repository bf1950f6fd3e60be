"""Registration of the ``lxc`` runtime.

Settings (``[plugin.lxc]`` in pouchd.toml)::

    lxcpath = "/run/pouch/lxc"   # where the containers' LXC directories live
                                 # (default: <run root>/lxc; never /var/lib/lxc)

The runtime is registered when the liblxc tools are on PATH and pouchd runs
as root; otherwise the plugin is skipped with the reason, which ``pouch
plugin ls`` shows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from pouch.errors import PluginSkip
from pouch.markers import hookimpl
from pouch.oci import detect_cgroup_version
from pouch_lxc.runtime import LxcRuntime

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Runtime

__all__ = ["LXC_PROGRAMS", "UTIL_PROGRAMS", "host_problem", "pouch_add_runtimes"]

# The liblxc tools the driver runs; all come with the Debian package lxc.
LXC_PROGRAMS = (
    "lxc-start",
    "lxc-attach",
    "lxc-stop",
    "lxc-info",
    "lxc-freeze",
    "lxc-unfreeze",
    "lxc-cgroup",
)


# From util-linux: a controlling terminal for ``exec -t``, the namespaces for sysctls.
UTIL_PROGRAMS = ("setsid", "nsenter")


def host_problem() -> str | None:
    """Say what this host lacks for the driver, or ``None`` when nothing is missing."""
    missing = [program for program in LXC_PROGRAMS if shutil.which(program) is None]
    if missing:
        return f"{', '.join(missing)} not found on PATH; install the Debian package lxc"
    missing = [program for program in UTIL_PROGRAMS if shutil.which(program) is None]
    if missing:
        return f"{', '.join(missing)} not found on PATH; install the Debian package util-linux"
    if os.geteuid() != 0:
        return "needs root: the plugin runs privileged LXC containers only"
    return None


def _version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""


@hookimpl
def pouch_add_runtimes(config: EngineConfig) -> list[Runtime]:
    problem = host_problem()
    if problem is not None:
        raise PluginSkip(f"lxc: {problem}")
    settings = config.plugin_settings("lxc")
    programs = (*LXC_PROGRAMS, *UTIL_PROGRAMS)
    tools = {program: shutil.which(program) or program for program in programs}
    runtime = LxcRuntime(
        lxcpath=Path(settings.get("lxcpath") or config.run_root / "lxc"),
        tools=tools,
        cgroup_version=detect_cgroup_version(),
        version=_version(tools["lxc-start"]),
    )
    return [runtime]
