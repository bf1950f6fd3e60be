"""Network namespaces pinned by a bind mount under the run root.

A sandbox that joins an addressed network gets a namespace of its own before
any container starts, so the network driver can configure it and every
runtime (runc, lxc, kata) joins the same one by path. The bind mount keeps it
alive with no process inside, and across pouchd restarts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio

from pouch.errors import PouchError
from pouch.mounts import is_mountpoint, unmount

__all__ = ["create_netns", "remove_netns"]


async def create_netns(path: Path) -> Path:
    """Create a namespace pinned at ``path`` with loopback up; reuse a pinned one."""
    if is_mountpoint(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise PouchError(
            "creating a network namespace needs unshare and ip "
            "(Debian packages util-linux and iproute2)"
        )
    result = await anyio.run_process(
        ["unshare", f"--net={path}", "ip", "link", "set", "lo", "up"], check=False
    )
    if result.returncode != 0:
        await remove_netns(path)
        raise PouchError(
            f"cannot create network namespace {path}: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return path


async def remove_netns(path: Path) -> None:
    """Release the namespace pinned at ``path``; no error if it is gone."""
    unmount(path)
    path.unlink(missing_ok=True)
