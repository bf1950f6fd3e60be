"""The ``lxc-attach`` command line of an ``exec``, and the environment it runs with.

Environment values travel in lxc-attach's own environment (``--keep-var``),
not on its command line, which every user of the host can read. LXC then sets
the container's own environment over the kept variables, so the values an
exec changes go as ``-v`` as well. lxc-attach (LXC 5) has no option for a
working directory: the command is run through the image's /bin/sh to get
there when there is one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pouch import oci
from pouch.errors import InvalidArgument
from pouch_lxc._state import MonitorSpec

__all__ = ["CHDIR", "attach_command"]

log = logging.getLogger(__name__)

CHDIR = 'cd -- "$1" || exit 126; shift; exec "$@"'


def attach_command(
    lxc_attach: str,
    base: MonitorSpec,
    process: oci.Process,
    user: oci.User,
    rootfs: Path,
) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of ``lxc-attach`` running ``process`` in ``base``'s container."""
    if not process.args:
        raise InvalidArgument("no command to run", field="cmd")
    env = dict(item.split("=", 1) for item in process.env if "=" in item)
    inherited = dict(item.split("=", 1) for item in base.env if "=" in item)
    command = [lxc_attach, "-n", base.name, "-P", base.lxcpath, "--clear-env"]
    command += ["-u", str(user.uid), "-g", str(user.gid)]
    for key, value in env.items():
        command += ["--keep-var", key]
        if inherited.get(key) != value:
            command += ["-v", f"{key}={value}"]
    bounding = set(process.capabilities.bounding if process.capabilities else [])
    if base.capabilities and bounding - set(base.capabilities):
        command.append("--elevated-privileges=CAP")  # a privileged exec
    args = list(process.args)
    if process.cwd and process.cwd != "/":
        if os.path.lexists(rootfs / "bin" / "sh"):
            args = ["/bin/sh", "-c", CHDIR, "sh", process.cwd, *args]
        else:
            log.warning(
                "exec in %s: no /bin/sh to enter %s; runs in /", base.name[:12], process.cwd
            )
    return [*command, "--", *args], env
