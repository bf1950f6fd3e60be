"""``LxcRuntime``: containers on liblxc's tools, each under a monitor that outlives pouchd.

Each container has a directory under the plugin's lxcpath (``<run root>/lxc``)
that is LXC's container directory and the plugin's record of it at once
(``pouch_lxc._state``). ``create`` mounts the snapshot there and writes the
LXC configuration; ``start`` launches the detached monitor, which runs
``lxc-start -F`` and writes the log and the exit code. Everything else asks
LXC (``lxc-attach``, ``lxc-freeze``, ``lxc-cgroup``, ``lxc-stop``) or reads the
container's directory, /proc and the cgroup filesystem, so a new pouchd finds
every container again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import msgspec

from pouch import cgroups as _cgroups
from pouch import oci
from pouch.drivers import (
    Capability,
    DriverInfo,
    ExecProcess,
    ExitStatus,
    RuntimeContainer,
    RuntimeState,
    Stats,
    StdioStream,
)
from pouch.errors import Conflict, NoSuchContainer, PouchError
from pouch.hookrun import HOOK_ERRORS
from pouch.users import resolve_user
from pouch_lxc._exec import attach_command
from pouch_lxc._hooks import has_hooks
from pouch_lxc._prepare import prepare
from pouch_lxc._state import ContainerDir, MonitorSpec
from pouch_lxc._stdio import AttachSocket, start_exec
from pouch_lxc._teardown import run_tool, teardown

log = logging.getLogger(__name__)

__all__ = ["LxcRuntime"]

_POLL = 0.02
_START_TIMEOUT = 60.0
_CAPABILITIES = [
    Capability.ATTACH,
    Capability.EXEC,
    Capability.NAMESPACES,
    Capability.PAUSE,
    Capability.RESOURCES,
    Capability.RESTORE,
    Capability.SECCOMP,
    Capability.STATS,
    Capability.BLOCK_STATS,
]


class LxcRuntime:
    """The ``lxc`` runtime: one LXC container per pouch container."""

    name = "lxc"

    def __init__(
        self, *, lxcpath: Path, tools: dict[str, str], cgroup_version: int, version: str = ""
    ) -> None:
        self.lxcpath = lxcpath
        self.tools = tools
        self.cgroup_version = cgroup_version
        self.version = version

    def describe(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            version=self.version,
            capabilities=[
                *_CAPABILITIES,
                Capability.HOOKS,
                Capability.LOG_ROTATION,
                Capability.TTY,
                Capability.UPDATE,
                Capability.USERNS,
            ],
            details={
                "lxcpath": str(self.lxcpath),
                "monitor": "pouch_lxc._monitor (lxc-start -F)",
                "cgroup": f"v{self.cgroup_version}",
            },
        )

    # -- helpers -----------------------------------------------------------------

    def _paths(self, container_id: str) -> ContainerDir:
        return ContainerDir(self.lxcpath, container_id)

    async def _tool(self, tool: str, container_id: str, *args: str) -> str:
        return await run_tool(self.tools, self.lxcpath, tool, container_id, *args)

    def _spec(self, paths: ContainerDir) -> MonitorSpec:
        try:
            return msgspec.json.decode(paths.spec.read_bytes(), type=MonitorSpec)
        except FileNotFoundError:
            raise NoSuchContainer(paths.id) from None

    def _cgroup(self, paths: ContainerDir) -> str:
        with contextlib.suppress(NoSuchContainer, msgspec.DecodeError):
            return self._spec(paths).cgroup or f"pouch/{paths.id}"
        return f"pouch/{paths.id}"

    # -- lifecycle ---------------------------------------------------------------

    async def create(self, container: RuntimeContainer) -> RuntimeState:
        paths = self._paths(container.id)
        self.lxcpath.mkdir(parents=True, exist_ok=True)
        try:
            paths.path.mkdir()
        except FileExistsError:
            raise Conflict(f"container {container.id[:12]} already exists in lxc") from None
        try:
            prepare(
                container,
                paths,
                lxc_start=self.tools["lxc-start"],
                lxcpath=self.lxcpath,
                cgroup_version=self.cgroup_version,
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.delete(container.id)
            raise
        return RuntimeState(id=container.id, status="created")

    async def start(self, container_id: str) -> RuntimeState:
        paths = self._paths(container_id)
        if not paths.spec.is_file():
            raise NoSuchContainer(container_id)
        if paths.monitor_pid.exists():
            raise Conflict(f"container {container_id[:12]} was already started")
        await anyio.run_process(
            [sys.executable, "-m", "pouch_lxc._monitor", str(paths.path)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        with anyio.fail_after(_START_TIMEOUT):
            while True:
                pid, _ = paths.init()
                if pid:
                    await _poststart(paths, pid)
                    return RuntimeState(id=container_id, status="running", pid=pid)
                record = paths.read_exit()
                if record is not None:
                    if record.error or record.exit_code:
                        said = paths.path / HOOK_ERRORS
                        error = record.error or f"exit {record.exit_code}"
                        if said.is_file():
                            error = said.read_text(errors="replace").strip()
                        raise PouchError(
                            f"lxc could not start container {container_id[:12]}: {error}"
                        )
                    return await self.state(container_id)
                if paths.monitor_pid.exists() and not paths.monitor_alive():
                    await anyio.sleep(_POLL)  # it may have written its files as it left
                    if not paths.init()[0] and paths.read_exit() is None:
                        raise PouchError(f"the lxc monitor died: {self._monitor_errors(paths)}")
                await anyio.sleep(0.005)

    def _monitor_errors(self, paths: ContainerDir) -> str:
        try:
            return paths.monitor_err.read_text(errors="replace").strip()[-2000:] or "no message"
        except FileNotFoundError:
            return "no message"

    async def kill(self, container_id: str, signal: int) -> None:
        pid = self._paths(container_id).live_init_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):  # it may have exited just now
                os.kill(pid, signal)

    async def wait(self, container_id: str) -> ExitStatus:
        paths = self._paths(container_id)
        checked = time.monotonic()
        while True:
            record = paths.read_exit()
            if record is not None:
                return ExitStatus(
                    exit_code=record.exit_code,
                    finished_at=record.finished_at,
                    oom_killed=record.oom_killed,
                )
            if not paths.exists():
                raise NoSuchContainer(container_id)
            if time.monotonic() - checked > 1.0:
                checked = time.monotonic()
                if paths.monitor_pid.exists() and not paths.monitor_alive():
                    await anyio.sleep(_POLL)  # it writes the exit file as it leaves
                    record = paths.read_exit()
                    if record is not None:
                        continue
                    return ExitStatus(exit_code=255, finished_at=time.time())
            await anyio.sleep(_POLL)

    async def state(self, container_id: str) -> RuntimeState:
        paths = self._paths(container_id)
        if not paths.exists():
            raise NoSuchContainer(container_id)
        record = paths.read_exit()
        if record is None and paths.monitor_pid.exists() and not paths.monitor_alive():
            record = paths.read_exit()  # written as the monitor ended, after the read above
        if record is not None:
            return RuntimeState(
                id=container_id,
                status="stopped",
                exit_code=record.exit_code,
                finished_at=record.finished_at,
                oom_killed=record.oom_killed,
            )
        if not paths.monitor_pid.exists():
            return RuntimeState(id=container_id, status="created")
        if not paths.monitor_alive():
            return RuntimeState(id=container_id, status="stopped")
        pid, _ = paths.init()
        paused = _cgroups.frozen(self._cgroup(paths), self.cgroup_version)
        return RuntimeState(id=container_id, status="paused" if paused else "running", pid=pid)

    async def delete(self, container_id: str) -> None:
        paths = self._paths(container_id)
        await teardown(
            paths,
            tools=self.tools,
            lxcpath=self.lxcpath,
            cgroup=self._cgroup(paths),
            version=self.cgroup_version,
        )

    async def list(self) -> list[RuntimeState]:
        if not self.lxcpath.is_dir():
            return []
        found = []
        # Every directory, also one a create cut short left without monitor.json:
        # the engine's reconciliation deletes what it does not know.
        for entry in sorted(self.lxcpath.iterdir()):
            if entry.is_dir() and not entry.name.startswith("."):
                with contextlib.suppress(NoSuchContainer):
                    found.append(await self.state(entry.name))
        return found

    # -- operations on a running container ---------------------------------------

    async def _require(self, container_id: str, *statuses: str) -> ContainerDir:
        state = await self.state(container_id)
        if state.status not in statuses:
            raise Conflict(f"container {container_id[:12]} is {state.status}")
        return self._paths(container_id)

    async def pause(self, container_id: str) -> None:
        await self._require(container_id, "running")
        await self._tool("lxc-freeze", container_id)

    async def resume(self, container_id: str) -> None:
        await self._require(container_id, "paused")
        await self._tool("lxc-unfreeze", container_id)

    async def update(self, container_id: str, resources: oci.LinuxResources) -> None:
        await self._require(container_id, "running", "paused")
        for key, value in _cgroups.settings(resources, self.cgroup_version):
            await self._tool("lxc-cgroup", container_id, key, value)

    async def exec(self, container_id: str, exec_id: str, process: oci.Process) -> ExecProcess:
        paths = await self._require(container_id, "running")
        user = resolve_user(process.user, paths.rootfs)
        command, env = attach_command(
            self.tools["lxc-attach"], self._spec(paths), process, user, paths.rootfs
        )
        size = process.console_size
        return await start_exec(
            command,
            env,
            terminal=process.terminal,
            size=(size.height, size.width) if size else None,
            setsid=self.tools.get("setsid", "setsid"),
        )

    async def stats(self, container_id: str) -> Stats:
        paths = await self._require(container_id, "running", "paused")
        return await anyio.to_thread.run_sync(
            _cgroups.read_stats, self._cgroup(paths), self.cgroup_version
        )

    async def attach(self, container_id: str) -> StdioStream:
        paths = await self._require(container_id, "running", "paused")
        if not self._spec(paths).stdin:
            raise Conflict(f"container {container_id[:12]} was not created with an open stdin")
        return AttachSocket.connect(paths.path)

    async def resize(self, container_id: str, height: int, width: int) -> None:
        paths = self._paths(container_id)
        with contextlib.suppress(Conflict, OSError):
            connection = AttachSocket.connect(paths.path)
            try:
                await connection.resize(height, width)
            finally:
                await connection.aclose()


async def _poststart(paths: ContainerDir, pid: int) -> None:
    """The spec's poststart hooks; their failure is reported, the container runs on."""
    config = paths.path / "config.json"
    if not config.is_file() or not has_hooks(msgspec.json.decode(config.read_bytes()), "poststart"):
        return
    done = await anyio.run_process(
        [sys.executable, "-m", "pouch_lxc._hooks", "poststart", str(paths.path), str(pid)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    if done.returncode:
        log.warning("container %s: %s", paths.id[:12], done.stderr.decode(errors="replace").strip())
