"""The ``bwrap`` runtime: each container a bubblewrap sandbox under ``pouch.monitor``.

The engine hands a runtime a sandbox, an OCI spec and the root filesystem as
mount descriptions. This one mounts the root filesystem on the host (so it
stays while the engine is away), turns the spec into ``bwrap`` options (its
own mount, PID, IPC and UTS namespaces; the sandbox's network namespace) and
leaves running, logging and exit codes to ``pouch.monitor``, so containers
outlive the engine with no code of its own for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pouch
from pouch.config import EngineConfig
from pouch.drivers import (
    Capability,
    DriverInfo,
    ExecProcess,
    ExitStatus,
    Runtime,
    RuntimeContainer,
    RuntimeState,
    Stats,
    StdioStream,
)
from pouch.errors import NotSupported
from pouch.monitor import Monitors
from pouch.mounts import mount_all, unmount
from pouch.oci import LinuxResources, Mount, Process, Spec
from pouch.users import resolve_user

__all__ = ["BwrapRuntime", "pouch_add_runtimes"]


def _mount_options(mount: Mount) -> list[str]:
    """One OCI mount as bwrap options; what bwrap makes itself is skipped."""
    if mount.type == "bind" or "bind" in mount.options or "rbind" in mount.options:
        read_only = "ro" in mount.options
        return ["--ro-bind" if read_only else "--bind", mount.source, mount.destination]
    if mount.type == "tmpfs":
        return ["--tmpfs", mount.destination]
    return []  # proc, sysfs, devpts, mqueue: --proc and --dev cover them


def bwrap_args(binary: str, spec: Spec, rootfs: Path, netns: str, host_net: bool) -> list[str]:
    """The ``bwrap`` command line that runs ``spec``'s process in ``rootfs``."""
    process = spec.process
    if process is None:
        raise ValueError("the spec has no process")
    args = [binary, "--bind", str(rootfs), "/", "--proc", "/proc", "--dev", "/dev"]
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]  # bwrap's init is PID 1
    args += ["--hostname", spec.hostname or "bwrap", "--die-with-parent"]
    if not host_net and not netns:
        args.append("--unshare-net")
    for mount in spec.mounts:
        args += _mount_options(mount)
    if spec.root is not None and spec.root.readonly:
        args += ["--remount-ro", "/"]
    if process.capabilities is not None:
        args += ["--cap-drop", "ALL"]
        for cap in process.capabilities.bounding:
            args += ["--cap-add", cap]
    user = resolve_user(process.user, rootfs)  # names from the image's /etc/passwd
    if user.uid or user.gid:
        args += ["--unshare-user", "--uid", str(user.uid), "--gid", str(user.gid)]
    args += ["--chdir", process.cwd or "/", "--clearenv"]
    for item in process.env:
        name, _, value = item.partition("=")
        args += ["--setenv", name, value]
    args += ["--", *process.args]
    return ["nsenter", f"--net={netns}", *args] if netns else args


class BwrapRuntime:
    name = "bwrap"

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.monitors = Monitors(root / "containers")
        self.rootfs_root = root / "rootfs"

    def describe(self) -> DriverInfo:
        version = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return DriverInfo(
            name=self.name,
            version=version.stdout.split()[-1] if version.stdout else "",
            # Namespaces it has, but not all the kit asks of NAMESPACES (sysctls,
            # a sysfs of its own): so it does not claim the capability.
            capabilities=[Capability.RESTORE, Capability.PAUSE, Capability.LOG_ROTATION],
            details={"binary": self.binary},
        )

    async def create(self, container: RuntimeContainer) -> RuntimeState:
        rootfs = self.rootfs_root / container.id
        rootfs.mkdir(parents=True, exist_ok=True)
        mount_all(container.rootfs, rootfs)
        sandbox = container.sandbox
        args = bwrap_args(
            self.binary, container.spec, rootfs, sandbox.netns_path, sandbox.host_network
        )
        return self.monitors.prepare(
            container.id,
            args,  # bwrap's own environment; the container's is in --setenv
            env=[f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}"],
            cwd="/",
            log_path=container.log_path,
            log_max_size=container.log_max_size,
            log_max_files=container.log_max_files,
        )

    async def start(self, container_id: str) -> RuntimeState:
        return await self.monitors.start(container_id)

    async def kill(self, container_id: str, sig: int) -> None:
        # bwrap (the monitor's command) forks an init, which forks the
        # container's process: that one gets the signal, as under docker.
        target = self.monitors.pid(container_id)
        with contextlib.suppress(OSError, ValueError, IndexError):
            for _ in range(2):
                children = Path(f"/proc/{target}/task/{target}/children").read_text()
                target = int(children.split()[0])
            if self.monitors.running(container_id):
                os.kill(target, sig)
                return
        await self.monitors.kill(container_id, sig)

    async def wait(self, container_id: str) -> ExitStatus:
        return await self.monitors.wait(container_id)

    async def state(self, container_id: str) -> RuntimeState:
        return await self.monitors.state(container_id)

    async def delete(self, container_id: str) -> None:
        await self.monitors.delete(container_id)
        rootfs = self.rootfs_root / container_id
        unmount(rootfs)
        with contextlib.suppress(OSError):
            rootfs.rmdir()

    async def list(self) -> list[RuntimeState]:
        return await self.monitors.list()

    async def pause(self, container_id: str) -> None:
        await self.monitors.signal_group(container_id, signal.SIGSTOP)

    async def resume(self, container_id: str) -> None:
        await self.monitors.signal_group(container_id, signal.SIGCONT)

    # Capabilities this runtime does not declare: the engine never calls them.
    async def update(self, container_id: str, resources: LinuxResources) -> None:
        raise NotSupported("the bwrap runtime enforces no resource limits")

    async def exec(self, container_id: str, exec_id: str, process: Process) -> ExecProcess:
        raise NotSupported("the bwrap runtime cannot exec")

    async def stats(self, container_id: str) -> Stats:
        raise NotSupported("the bwrap runtime keeps no statistics")

    async def attach(self, container_id: str) -> StdioStream:
        raise NotSupported("the bwrap runtime gives containers no stdin")

    async def resize(self, container_id: str, height: int, width: int) -> None:
        raise NotSupported("the bwrap runtime has no terminals")


@pouch.hookimpl
def pouch_add_runtimes(config: EngineConfig) -> list[Runtime]:
    binary = shutil.which("bwrap")
    if binary is None:
        raise pouch.PluginSkip("bwrap not found: apt-get install bubblewrap")
    return [BwrapRuntime(binary, config.run_root / "bwrap")]
