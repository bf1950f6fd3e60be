"""``OCIRuntime``: containers on an OCI command-line runtime (runc, crun) under conmon.

Each container has a directory of its own under the plugin's state root that
is its OCI bundle (``config.json``, ``rootfs/``) and conmon's working area
(exit file, PID files, ``ctl`` fifo, attach socket). Everything about a
running container is in that directory and in the runtime's own state, so a
new pouchd finds it all again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import anyio
import msgspec

from pouch import oci
from pouch.cgroups import disks, read_stats, with_v1_accounting
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
from pouch.executables import check_command
from pouch.mounts import mount_all, unmount
from pouch.telemetry import step
from pouch.users import resolve_user
from pouch_runc._conmon import CONMON_DIRS, ConmonOptions, start_conmon
from pouch_runc._stdio import AttachSocket, start_exec

__all__ = ["OCIRuntime"]

_POLL = 0.05
# How long conmon may take to write a container's exit once its process ended.
_EXIT_WRITE_TIMEOUT = 5.0
_GONE = ("does not exist", "not found", "no such file")


def _systemd_scope(cgroups_path: str) -> bool:
    """Whether a ``cgroupsPath`` names a systemd scope (``slice:prefix:name``)."""
    return ":" in cgroups_path


def _remove_bundle(directory: Path) -> None:
    unmount(directory / "rootfs")
    shutil.rmtree(directory, True)


class OCIRuntime:
    """One named runtime (``runc``, ``crun`` or an operator's own) on one binary."""

    def __init__(
        self,
        name: str,
        *,
        binary: str,
        args: list[str],
        state_root: Path,
        conmon: str,
        cgroup_version: int,
        version: str = "",
        console_exec: bool = False,
        annotations: dict[str, str] | None = None,
    ) -> None:
        """``console_exec``: the binary runs ``exec -t`` with a console socket
        and still waits for the process (crun does; runc only when detached).
        ``annotations`` are added to every container's bundle spec."""
        self.name = name
        self.console_exec = console_exec
        self.annotations = dict(annotations or {})
        self.binary = binary
        self.args = list(args)
        self.root = state_root / name
        self.conmon = conmon
        self.cgroup_version = cgroup_version
        self.version = version
        # Whether each container's cgroup is a systemd scope, from its config.json.
        self._systemd: dict[str, bool] = {}

    def describe(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            version=self.version,
            capabilities=[
                Capability.ATTACH,
                Capability.BLOCK_STATS,
                Capability.DELETE_LATER,
                Capability.DEVICES,
                Capability.EXEC,
                Capability.HOOKS,
                Capability.NAMESPACES,
                Capability.OOM_KILLED,
                Capability.PAUSE,
                Capability.RESOURCES,
                Capability.RESTORE,
                Capability.SECCOMP,
                Capability.STATS,
                Capability.SYSTEMD_CGROUP,
                Capability.TTY,
                Capability.UPDATE,
                Capability.USERNS,
            ],
            details={
                "binary": self.binary,
                "monitor": self.conmon,
                "cgroup": f"v{self.cgroup_version}",
            },
        )

    # -- paths and the runtime binary ------------------------------------------

    def _dir(self, container_id: str) -> Path:
        if "/" in container_id or container_id in ("", ".", ".."):
            raise NoSuchContainer(container_id)
        return self.root / "containers" / container_id

    @property
    def _state(self) -> Path:
        return self.root / "state"

    def _command(self, *args: str, container: str) -> list[str]:
        return [self.binary, *self._global_args(container), *args]

    def _global_args(self, container_id: str) -> list[str]:
        """The binary's global options for this container: ``--systemd-cgroup`` when
        its ``cgroupsPath`` is a systemd scope (``slice:prefix:name``)."""
        systemd = self._systemd.get(container_id)
        if systemd is None:
            try:
                config = json.loads((self._dir(container_id) / "config.json").read_bytes())
                systemd = _systemd_scope(config.get("linux", {}).get("cgroupsPath", ""))
            except (OSError, ValueError):
                return [*self.args, "--root", str(self._state)]
            self._systemd[container_id] = systemd
        flags = ["--systemd-cgroup"] if systemd else []
        return [*self.args, "--root", str(self._state), *flags]

    async def _run(
        self, *args: str, container: str, stdin: bytes | None = None, quiet_if_gone: bool = False
    ) -> str:
        command = self._command(*args, container=container)
        result = await anyio.run_process(command, input=stdin, check=False)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).decode(errors="replace").strip()
            if quiet_if_gone and any(word in message.lower() for word in _GONE):
                return ""
            raise PouchError(f"{self.name} {args[0]}: {message or f'exit {result.returncode}'}")
        return result.stdout.decode()

    def _exit(self, container_id: str) -> ExitStatus | None:
        path = self._dir(container_id) / "exits" / container_id
        try:
            text = path.read_text().strip()
            finished = path.stat().st_mtime
        except FileNotFoundError:
            return None
        if not text.lstrip("-").isdigit():
            return None  # conmon is still writing it
        oom = (self._dir(container_id) / "persist" / "oom").exists()
        return ExitStatus(exit_code=int(text), finished_at=finished, oom_killed=oom)

    def _conmon_alive(self, container_id: str) -> bool:
        try:
            pid = int((self._dir(container_id) / "conmon.pid").read_text())
            return Path(f"/proc/{pid}/comm").read_text().strip() == "conmon"
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False

    # -- lifecycle -------------------------------------------------------------

    def _make_bundle(self, container: RuntimeContainer) -> oci.Spec:
        """The bundle directory, its root filesystem mounted and its ``config.json``.

        Blocking work (directories, a mount that waits for the kernel's mount
        lock, files): a worker thread does it, so the event loop goes on.
        """
        directory = self._dir(container.id)
        rootfs = directory / "rootfs"
        directory.mkdir(parents=True, exist_ok=False)
        rootfs.mkdir()
        for sub in CONMON_DIRS:
            (directory / sub).mkdir()
        with step("runc.rootfs"):
            mount_all(container.rootfs, rootfs)
        with step("runc.bundle"):
            spec = self._bundle_spec(container, rootfs)
            (directory / "config.json").write_bytes(msgspec.json.encode(spec))
        linux = spec.linux
        self._systemd[container.id] = linux is not None and _systemd_scope(linux.cgroups_path)
        return spec

    async def create(self, container: RuntimeContainer) -> RuntimeState:
        directory = self._dir(container.id)  # a valid ID, before anything is made
        try:
            spec = await anyio.to_thread.run_sync(self._make_bundle, container)
            terminal = bool(spec.process and spec.process.terminal)
            pid = await start_conmon(
                ConmonOptions(
                    conmon=self.conmon,
                    runtime_path=self.binary,
                    runtime_args=self._global_args(container.id),
                    container_id=container.id,
                    bundle=directory,
                    state_dir=directory,
                    log_path=container.log_path,
                    terminal=terminal,
                    stdin=bool(spec.annotations.get(oci.ANNOTATION_STDIN)) or terminal,
                    # As docker: only a non-terminal StdinOnce container loses its
                    # stdin when the client that attached it disconnects.
                    leave_stdin_open=terminal
                    or spec.annotations.get(oci.ANNOTATION_STDIN) != "once",
                )
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.delete(container.id)
            raise
        return RuntimeState(id=container.id, status="created", pid=pid)

    def _bundle_spec(self, container: RuntimeContainer, rootfs: Path) -> oci.Spec:
        spec = msgspec.structs.replace(container.spec)
        spec.root = oci.Root(path=str(rootfs), readonly=spec.root.readonly if spec.root else False)
        if self.annotations:
            spec.annotations = {**spec.annotations, **self.annotations}
        if spec.process is not None:
            spec.process = msgspec.structs.replace(
                spec.process, user=resolve_user(spec.process.user, rootfs)
            )
        if spec.linux is not None and self.cgroup_version == 1:  # block I/O counted, as on v2
            spec.linux = msgspec.structs.replace(
                spec.linux, resources=with_v1_accounting(spec.linux.resources, disks())
            )
        if spec.linux is not None and container.sandbox.netns_path:
            spec.linux.namespaces = [
                oci.LinuxNamespace(type="network", path=container.sandbox.netns_path)
                if ns.type == "network"
                else ns
                for ns in spec.linux.namespaces
            ]
        return spec

    async def start(self, container_id: str) -> RuntimeState:
        await self._run("start", container_id, container=container_id)
        # The PID is the one create wrote (conmon's -p): no `state` call, a process less.
        try:
            pid = int((self._dir(container_id) / "pid").read_text().strip())
        except (OSError, ValueError):
            return await self.state(container_id)
        return RuntimeState(id=container_id, status="running", pid=pid)

    async def kill(self, container_id: str, signal: int) -> None:
        if self._exit(container_id) is None:
            with contextlib.suppress(PouchError):  # it may have exited just now
                await self._run(
                    "kill", container_id, str(signal), container=container_id, quiet_if_gone=True
                )

    async def wait(self, container_id: str) -> ExitStatus:
        # conmon writes the exit file, then exits: a pidfd of conmon wakes us at once
        # (where the kernel has pidfds), else the exit file is looked for every _POLL.
        pidfd = self._conmon_pidfd(container_id)
        try:
            checked = time.monotonic()
            while True:
                status = self._exit(container_id)
                if status is not None:
                    return status
                if not self._dir(container_id).exists():
                    raise NoSuchContainer(container_id)
                if time.monotonic() - checked > 1.0:
                    checked = time.monotonic()
                    if not self._conmon_alive(container_id):
                        await anyio.sleep(_POLL)  # conmon writes the exit file as it leaves
                        status = self._exit(container_id)
                        return status or ExitStatus(exit_code=255, finished_at=time.time())
                if pidfd is None:
                    await anyio.sleep(_POLL)
                    continue
                with anyio.move_on_after(1.0) as waited:
                    await anyio.wait_readable(pidfd)
                if not waited.cancelled_caught:  # conmon has exited
                    os.close(pidfd)
                    pidfd = None
                    checked = time.monotonic() - 2.0
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _conmon_pidfd(self, container_id: str) -> int | None:
        """A pidfd of the container's conmon, or None (no conmon, or no pidfds here)."""
        try:
            pidfd = os.pidfd_open(int((self._dir(container_id) / "conmon.pid").read_text()))
        except (OSError, ValueError, AttributeError):
            return None
        # The pidfd pins the PID: once it is open, the name check cannot race.
        if self._conmon_alive(container_id):
            return pidfd
        os.close(pidfd)
        return None

    async def state(self, container_id: str) -> RuntimeState:
        directory = self._dir(container_id)
        if not directory.is_dir():
            raise NoSuchContainer(container_id)
        status = self._exit(container_id)
        if status is not None:
            return status.state(container_id)
        try:
            data = json.loads(await self._run("state", container_id, container=container_id))
        except PouchError:
            return RuntimeState(id=container_id, status="stopped")
        runtime_status = data.get("status", "stopped")
        if runtime_status not in ("created", "running", "paused"):
            status = await self._exit_soon(container_id)
            if status is not None:
                return status.state(container_id)
            runtime_status = "stopped"
        return RuntimeState(id=container_id, status=runtime_status, pid=int(data.get("pid") or 0))

    async def _exit_soon(self, container_id: str) -> ExitStatus | None:
        """The exit conmon is about to write: the process has just ended, so
        ``runc state`` says stopped before conmon has reaped it (bounded wait)."""
        deadline = anyio.current_time() + _EXIT_WRITE_TIMEOUT
        while True:
            status = self._exit(container_id)
            if status is not None or not self._conmon_alive(container_id):
                return status if status is not None else self._exit(container_id)
            if anyio.current_time() > deadline:
                return None
            await anyio.sleep(_POLL)

    async def delete(self, container_id: str) -> None:
        directory = self._dir(container_id)
        if (self._state / container_id).exists():
            await self._run(
                "delete", "--force", container_id, container=container_id, quiet_if_gone=True
            )
        if directory.exists():
            if self._conmon_alive(container_id):
                with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                    os.kill(int((directory / "conmon.pid").read_text()), signal.SIGKILL)
            await anyio.to_thread.run_sync(_remove_bundle, directory)
        self._systemd.pop(container_id, None)

    async def list(self) -> list[RuntimeState]:
        containers = self.root / "containers"
        if not containers.is_dir():
            return []
        return [await self.state(d.name) for d in sorted(containers.iterdir()) if d.is_dir()]

    async def pause(self, container_id: str) -> None:
        await self._run("pause", container_id, container=container_id)

    async def resume(self, container_id: str) -> None:
        await self._run("resume", container_id, container=container_id)

    async def update(self, container_id: str, resources: oci.LinuxResources) -> None:
        await self._run(
            "update",
            "--resources",
            "-",
            container_id,
            container=container_id,
            stdin=msgspec.json.encode(resources),
        )

    async def exec(self, container_id: str, exec_id: str, process: oci.Process) -> ExecProcess:
        directory = self._dir(container_id)
        if self._exit(container_id) is not None or not directory.exists():
            raise Conflict(f"container {container_id[:12]} is not running")
        rootfs = directory / "rootfs"
        process = msgspec.structs.replace(process, user=resolve_user(process.user, rootfs))
        await anyio.to_thread.run_sync(
            check_command, rootfs, list(process.args), list(process.env), process.cwd
        )
        spec_path = directory / f"exec-{exec_id[:16]}.json"
        spec_path.write_bytes(msgspec.json.encode(process))
        pid_file = spec_path.with_suffix(".pid")
        started = await start_exec(
            self._command(
                *("exec", "--pid-file", str(pid_file), "--process", str(spec_path)),
                container=container_id,
            ),
            container_id,
            spec_path,
            terminal=process.terminal,
            console_socket=self.console_exec,
        )
        started.pid_file = pid_file
        return started

    async def stats(self, container_id: str) -> Stats:
        config = json.loads((self._dir(container_id) / "config.json").read_text())
        cgroup = config.get("linux", {}).get("cgroupsPath", f"/pouch/{container_id}")
        return await anyio.to_thread.run_sync(read_stats, cgroup, self.cgroup_version)

    async def attach(self, container_id: str) -> StdioStream:
        return await AttachSocket.connect(self._dir(container_id))

    async def resize(self, container_id: str, height: int, width: int) -> None:
        self._control(container_id, f"1 {height} {width}\n")

    async def reopen_log(self, container_id: str) -> None:
        self._control(container_id, "2 0 0\n")

    def _control(self, container_id: str, message: str) -> None:
        """A message to conmon's ctl fifo: 1 resizes the terminal, 2 reopens the log."""
        ctl = self._dir(container_id) / "ctl"
        with contextlib.suppress(FileNotFoundError, OSError):
            fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
            try:
                os.write(fd, message.encode())
            finally:
                os.close(fd)
