"""Running the liblxc tools, and taking a container down without leaving anything.

``teardown`` is ``delete``'s work and must be idempotent: it thaws a frozen
container (a frozen init cannot die), kills the init, waits — bounded — for
the monitor to record the exit and leave, unmounts the root filesystem and
only then removes the directory (never while anything is still mounted in
it), and removes what LXC may leave behind: the container's and the lxc
monitor's cgroups (after a killed lxc-start) and LXC's lock file under
/run/lxc/lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path

import anyio

from pouch import cgroups as _cgroups
from pouch.errors import PouchError
from pouch.mounts import is_mountpoint, unmount
from pouch_lxc._config import monitor_cgroup
from pouch_lxc._state import ContainerDir

__all__ = ["run_tool", "teardown"]

log = logging.getLogger(__name__)

_POLL = 0.02
_GRACE = 10.0


async def run_tool(tools: dict[str, str], lxcpath: Path, tool: str, name: str, *args: str) -> str:
    """``<tool> -n <name> -P <lxcpath> args…``; PouchError with its message if it fails."""
    command = [tools[tool], "-n", name, "-P", str(lxcpath), *args]
    result = await anyio.run_process(command, check=False, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).decode(errors="replace").strip()
        raise PouchError(f"{tool}: {message or f'exit {result.returncode}'}")
    return result.stdout.decode()


async def _stop(
    paths: ContainerDir, tools: dict[str, str], lxcpath: Path, cgroup: str, version: int
) -> None:
    if not paths.monitor_alive() and not paths.live_init_pid():
        return
    if _cgroups.frozen(cgroup, version):
        with contextlib.suppress(PouchError):
            await run_tool(tools, lxcpath, "lxc-unfreeze", paths.id)
    if pid := paths.live_init_pid():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with anyio.move_on_after(_GRACE):
        while paths.monitor_alive():
            await anyio.sleep(_POLL)
    if paths.monitor_alive():
        log.warning("container %s: the monitor is still there; killing it", paths.id[:12])
        with contextlib.suppress(PouchError):
            await run_tool(tools, lxcpath, "lxc-stop", paths.id, "--kill", "--nowait")
        with contextlib.suppress(ProcessLookupError):
            os.kill(paths.monitor()[0], signal.SIGKILL)


def _remove_lock(lxcpath: Path, name: str) -> None:
    lock_dir = Path("/run/lxc/lock") / str(lxcpath).lstrip("/")
    with contextlib.suppress(OSError):
        (lock_dir / f".{name}").unlink()
    with contextlib.suppress(OSError):
        os.removedirs(lock_dir)  # the empty parents too, up to /run/lxc/lock


async def teardown(
    paths: ContainerDir, *, tools: dict[str, str], lxcpath: Path, cgroup: str, version: int
) -> None:
    """Remove every trace of the container; nothing happens for what is already gone."""
    if paths.path.exists():
        await _stop(paths, tools, lxcpath, cgroup, version)
        unmount(paths.rootfs)
        if is_mountpoint(paths.rootfs):
            raise PouchError(f"the root filesystem of {paths.id[:12]} is still mounted")
        await anyio.to_thread.run_sync(shutil.rmtree, paths.path, True)
    await anyio.to_thread.run_sync(_cgroups.remove, cgroup, monitor_cgroup(paths.id))
    _remove_lock(lxcpath, paths.id)
