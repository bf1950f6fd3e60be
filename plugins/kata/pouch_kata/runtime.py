"""``KataRuntime``: each container in a QEMU micro-VM of its own, run by the guest agent.

``create`` mounts the root filesystem into the VM's shared directory, starts
virtiofsd and QEMU (daemonized: both outlive the engine), connects to the
agent and has it create the container, whose first process waits for
``start``. The agent's connection is held by the plugin's ``Hub``; the
container's output goes to its log from there, and its exit code to the VM's
directory before the VM is powered off. ``pause`` and ``resume`` stop and
continue the whole VM (QMP). The host sees one process per container: QEMU,
whose PID is the container's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import anyio

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
from pouch.errors import Conflict, InvalidArgument, NoSuchContainer, PouchError
from pouch.executables import check_command
from pouch.oci import LinuxResources, Process
from pouch.users import resolve_user

from . import _agent_protocol as proto
from ._agent_client import AgentGone, AgentProcess
from ._guest import GUEST_ROOTFS, GuestDir, Meta
from ._hub import Hub, Link
from ._network import plumb
from ._qemu import BootError, VMSpec, qmp
from ._seccomp import compile_bpf

__all__ = ["KataRuntime"]

_MIB = 1 << 20
#: guest memory on top of a container's --memory (the guest kernel and agent).
_MARGIN_MIB = 64
_DEFAULT_MIB = 128


def _process_spec(process: Process, rootfs: Path, seccomp: bytes) -> proto.ProcessSpec:
    user = resolve_user(process.user, rootfs)
    caps = process.capabilities
    return proto.ProcessSpec(
        args=list(process.args),
        env=list(process.env),
        cwd=process.cwd or "/",
        terminal=process.terminal,
        uid=user.uid,
        gid=user.gid,
        capabilities=proto.Capabilities(
            bounding=list(caps.bounding),
            effective=list(caps.effective),
            permitted=list(caps.permitted),
            inheritable=list(caps.inheritable),
            ambient=list(caps.ambient),
        )
        if caps is not None
        else None,
        no_new_privileges=process.no_new_privileges,
        seccomp=seccomp,
    )


def _resources(resources: LinuxResources | None) -> proto.Resources:
    """The limits the agent sets on the container's cgroup in the guest."""
    if resources is None:
        return proto.Resources()
    memory, cpu, pids = resources.memory, resources.cpu, resources.pids
    return proto.Resources(
        memory=max(0, memory.limit or 0) if memory else 0,
        cpu_quota=max(0, cpu.quota or 0) if cpu else 0,
        cpu_period=max(0, cpu.period or 0) if cpu else 0,
        pids=max(0, pids.limit) if pids else 0,
    )


class _Stdio:
    """A process's stdio over the agent: ``attach`` and each exec."""

    def __init__(self, link: Link, process_id: str, process: AgentProcess | None) -> None:
        self._link = link
        self._id = process_id
        self._process = process

    async def write(self, data: bytes) -> None:
        await self._link.agent().stdin(self._id, data)

    async def close_stdin(self) -> None:
        await self._link.agent().stdin(self._id, close=True)

    async def output(self) -> AsyncIterator[tuple[Literal["stdout", "stderr"], bytes]]:
        if self._process is None:
            return  # attach: the main process's output goes to the log
        async for chunk in self._process.output:
            yield ("stderr" if chunk.stream == "stderr" else "stdout"), chunk.data

    async def resize(self, height: int, width: int) -> None:
        await self._link.agent().resize(self._id, height, width)

    async def wait(self) -> int:
        assert self._process is not None
        return await self._process.wait()

    async def kill(self, signal: int) -> None:
        with contextlib.suppress(PouchError):
            await self._link.agent().signal(self._id, signal)

    async def aclose(self) -> None:
        return None


class KataRuntime:
    def __init__(
        self,
        *,
        hub: Hub,
        root: Path,
        spec: VMSpec,
        program: str,
        details: dict[str, str],
    ) -> None:
        self.name = "kata"
        self.hub = hub
        self.root = root
        self.spec = spec
        self.program = program
        self._details = details

    def describe(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            version=self._details.get("agent", ""),
            capabilities=[
                Capability.ATTACH,
                Capability.EXEC,
                Capability.LOG_ROTATION,
                Capability.NAMESPACES,
                Capability.PAUSE,
                Capability.RESOURCES,
                Capability.RESTORE,
                Capability.SECCOMP,
                Capability.STATS,
                Capability.OOM_KILLED,
                Capability.TTY,
                Capability.UPDATE,
            ],
            details=dict(self._details),
        )

    # -- helpers --------------------------------------------------------------------

    def _guest(self, container_id: str) -> GuestDir:
        try:
            return GuestDir.of(self.root, container_id)
        except ValueError:
            raise NoSuchContainer(container_id) from None

    def _vm_spec(self, container: RuntimeContainer) -> VMSpec:
        memory = _DEFAULT_MIB
        linux = container.spec.linux
        resources = linux.resources if linux else None
        limit = resources.memory.limit if resources and resources.memory else None
        if limit and limit > 0:
            memory = max(_DEFAULT_MIB, -(-limit // _MIB) + _MARGIN_MIB)
        return dataclasses.replace(self.spec, memory_mib=memory)

    def _teardown(self, guest: GuestDir) -> None:
        guest.teardown(self.spec, self.program)

    async def _link(self, container_id: str) -> Link:
        link = self.hub.find(container_id)
        if link is not None:
            return link
        guest = self._guest(container_id)
        if guest.exit() is not None or not guest.path.exists():
            raise Conflict(f"container {container_id[:12]} is not running")
        if not guest.vm(self.spec, self.program).adopt():
            raise Conflict(f"container {container_id[:12]}: its VM is not running")
        meta = guest.meta()
        return await self.hub.link(guest, adopt=bool(meta and meta.started))

    # -- lifecycle ------------------------------------------------------------------

    async def create(self, container: RuntimeContainer) -> RuntimeState:
        process = container.spec.process
        if process is None:
            raise PouchError("the container's spec has no process")
        guest = self._guest(container.id)
        meta = Meta(
            container_id=container.id,
            log_path=str(container.log_path),
            log_max_size=container.log_max_size,
            log_max_files=container.log_max_files,
        )
        spec = self._vm_spec(container)
        sandbox = container.sandbox
        if sandbox.host_network:
            raise InvalidArgument(
                "a VM cannot share the host's network; use a bridge network or none",
                field="HostConfig.NetworkMode",
            )
        network = proto.NetworkSettings(mac="")
        linux = container.spec.linux
        seccomp = compile_bpf(linux.seccomp) if linux and linux.seccomp else b""
        booted = False
        try:
            await anyio.to_thread.run_sync(guest.prepare, container.rootfs, meta)
            guest.seccomp.write_bytes(seccomp)
            request = _process_spec(process, guest.rootfs, seccomp)
            mounts = await anyio.to_thread.run_sync(guest.share_mounts, container.spec.mounts)
            if sandbox.netns_path:
                meta.netns = sandbox.netns_path
                guest.write_meta(meta)
                plumbed = await anyio.to_thread.run_sync(plumb, sandbox.netns_path)
                if plumbed is not None:
                    network = plumbed
                    spec = dataclasses.replace(spec, netns=sandbox.netns_path, mac=plumbed.mac)
            await anyio.to_thread.run_sync(guest.virtiofsd.start)
            vm = guest.vm(spec, self.program)
            pid = await anyio.to_thread.run_sync(vm.start)
            await anyio.to_thread.run_sync(guest.start_shim)
            link = await self.hub.link(guest, adopt=False)
            booted = True
            await link.agent().network(network)
            await link.agent().create(
                container.id,
                GUEST_ROOTFS,
                request,
                # A container joining another's UTS namespace (a pod's) has no
                # hostname of its own in the spec: the guest takes the sandbox's.
                hostname=container.spec.hostname or container.sandbox.hostname,
                mounts=mounts,
                readonly=bool(container.spec.root and container.spec.root.readonly),
                sysctls=linux.sysctl if linux else {},
                resources=_resources(linux.resources if linux else None),
                masked_paths=linux.masked_paths if linux else [],
                readonly_paths=linux.readonly_paths if linux else [],
            )
        except BaseException as error:
            console = guest.console_tail()
            with anyio.CancelScope(shield=True):
                await self.delete(container.id)
            if isinstance(error, (OSError, BootError, RuntimeError)):
                raise PouchError(f"kata: the VM did not start: {error}{console}") from error
            if isinstance(error, AgentGone) and not booted:
                raise PouchError(
                    f"kata: the VM stopped before its agent answered ({error}){console}"
                ) from error
            if isinstance(error, PouchError):
                raise PouchError(f"kata: {error}{console}") from error
            raise
        return RuntimeState(id=container.id, status="created", pid=pid)

    async def start(self, container_id: str) -> RuntimeState:
        link = await self._link(container_id)
        guest = link.guest
        await link.agent().start(container_id)
        meta = guest.meta()
        if meta is not None:
            meta.started = True
            guest.write_meta(meta)
        link.started.set()
        return await self.state(container_id)

    async def kill(self, container_id: str, signal: int) -> None:
        guest = self._guest(container_id)
        if guest.exit() is not None:
            return
        try:
            link = await self._link(container_id)
            await link.agent().signal(container_id, signal)
        except PouchError:
            if signal == 9:  # no agent to ask: the VM goes, and the process with it
                await anyio.to_thread.run_sync(self._teardown, guest)
                if guest.exit() is None and guest.path.exists():
                    guest.write_exit(137)
            else:
                raise

    async def wait(self, container_id: str) -> ExitStatus:
        guest = self._guest(container_id)
        while True:
            status = guest.exit()
            if status is not None:
                return status
            if not guest.path.exists():
                raise NoSuchContainer(container_id)
            try:
                link = await self._link(container_id)
            except Conflict:
                # The VM is gone and said nothing (killed while the engine was down).
                if guest.exit() is None:
                    await anyio.to_thread.run_sync(self._teardown, guest)
                    guest.write_lost(137)
                continue
            await link.exited.wait()
            if guest.exit() is None:
                await anyio.sleep(0.05)

    async def state(self, container_id: str) -> RuntimeState:
        guest = self._guest(container_id)
        if not guest.path.exists():
            raise NoSuchContainer(container_id)
        status = guest.exit()
        if status is not None:
            return status.state(container_id)
        vm = guest.vm(self.spec, self.program)
        alive = await anyio.to_thread.run_sync(vm.adopt)
        meta = guest.meta()
        if not alive:
            return RuntimeState(id=container_id, status="stopped", exit_code=137)
        if meta is not None and not meta.started:
            return RuntimeState(id=container_id, status="created", pid=vm.pid or 0)
        paused = guest.paused_flag.exists()
        return RuntimeState(
            id=container_id, status="paused" if paused else "running", pid=vm.pid or 0
        )

    async def delete(self, container_id: str) -> None:
        guest = self._guest(container_id)
        await self.hub.drop(container_id)
        await anyio.to_thread.run_sync(guest.remove, self.spec, self.program)

    async def list(self) -> list[RuntimeState]:
        found: list[RuntimeState] = []
        if not self.root.is_dir():
            return found
        for entry in sorted(self.root.iterdir()):
            meta = GuestDir(entry, "").meta()
            if meta is None:
                continue
            with contextlib.suppress(PouchError):
                found.append(await self.state(meta.container_id))
        return found

    # -- optional -------------------------------------------------------------------

    async def pause(self, container_id: str) -> None:
        await self._qmp(container_id, "stop")
        self._guest(container_id).paused_flag.touch()

    async def resume(self, container_id: str) -> None:
        await self._qmp(container_id, "cont")
        self._guest(container_id).paused_flag.unlink(missing_ok=True)

    async def _qmp(self, container_id: str, command: str) -> None:
        guest = self._guest(container_id)
        if guest.exit() is not None:
            raise Conflict(f"container {container_id[:12]} is not running")
        try:
            await anyio.to_thread.run_sync(qmp, guest.path / "qmp.sock", command)
        except OSError as error:
            raise Conflict(
                f"container {container_id[:12]}: its VM did not answer: {error}"
            ) from None

    async def update(self, container_id: str, resources: LinuxResources) -> None:
        """New limits for the container's cgroup in the guest (the VM keeps its size)."""
        link = await self._link(container_id)
        await link.agent().update(container_id, _resources(resources))

    async def exec(self, container_id: str, exec_id: str, process: Process) -> ExecProcess:
        link = await self._link(container_id)
        rootfs = link.guest.rootfs
        try:  # the container's filter, compiled at create
            seccomp = link.guest.seccomp.read_bytes()
        except FileNotFoundError:
            seccomp = b""
        request = _process_spec(process, rootfs, seccomp)
        await anyio.to_thread.run_sync(
            check_command, rootfs, list(process.args), list(process.env), process.cwd
        )
        started = await link.agent().exec(container_id, exec_id, request)
        return _Stdio(link, exec_id, started)

    async def stats(self, container_id: str) -> Stats:
        link = await self._link(container_id)
        sample = await link.agent().stats(container_id)
        return Stats(
            read_at=time.time(),
            cpu_usage_ns=sample.cpu_usage_ns,
            memory_usage=sample.memory,
            memory_limit=sample.memory_limit,
            pids=sample.pids,
        )

    async def attach(self, container_id: str) -> StdioStream:
        return _Stdio(await self._link(container_id), container_id, None)

    async def resize(self, container_id: str, height: int, width: int) -> None:
        link = await self._link(container_id)
        with contextlib.suppress(PouchError):
            await link.agent().resize(container_id, height, width)
