"""``--init``: a tiny init as the container's PID 1, as docker's ``--init`` does.

The host's statically linked ``tini`` (Debian package ``tini``) is bind-mounted
read-only at ``/sbin/docker-init`` and runs the container's command as its
child, reaping orphaned zombies and passing signals on. A host without it
refuses such a container with what to install.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pouch import oci
from pouch.errors import InvalidArgument
from pouch.markers import hookimpl
from pouch.models import Container

__all__ = ["INIT_PATH", "find_init", "with_init"]

INIT_PATH = "/sbin/docker-init"
_CANDIDATES = ("tini-static", "docker-init")


def find_init() -> str | None:
    for name in _CANDIDATES:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    return None


@hookimpl(tryfirst=True)
def pouch_container_create(container: Container, spec: oci.Spec) -> None:
    if container.config.init and spec.process is not None:
        with_init(spec)


def with_init(spec: oci.Spec, *, field: str = "init") -> None:
    """Make the host's tini the PID 1 of ``spec``'s process, running its command."""
    assert spec.process is not None
    if not spec.process.args:
        return  # nothing to run: the engine refuses the container
    binary = find_init()
    if binary is None:
        raise InvalidArgument(
            f"{field} needs a static init program on the host: apt-get install tini", field=field
        )
    spec.mounts.append(
        oci.Mount(
            destination=INIT_PATH,
            type="bind",
            source=binary,
            options=["bind", "ro", "nosuid", "nodev"],
        )
    )
    spec.process.args = [INIT_PATH, "--", *spec.process.args]
