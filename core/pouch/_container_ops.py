"""Operations on one existing container: pause, update, rename, networks, exec, logs, stats.

``ContainerOps`` is the part of ``Engine`` that changes or reads a container
that already exists, each under the container's lock; the lifecycle itself
(start, stop, exits, restarts) is ``Lifecycle``'s.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from pouch import oci
from pouch._exec import exec_process
from pouch._names import validate_name
from pouch._reconcile import Reconciler
from pouch.drivers import ExecProcess, Runtime, Stats
from pouch.errors import Conflict, NotSupported
from pouch.logs import LogRecord, read_logs
from pouch.models import Container, ExecConfig, Resources, State
from pouch.telemetry import operation

__all__ = ["ContainerOps"]

_ACTIVE = (State.RUNNING, State.PAUSED, State.RESTARTING)


class ContainerOps(Reconciler):
    async def pause(self, ref: str) -> Container:
        return await self._freeze(ref, pause=True)

    async def resume(self, ref: str) -> Container:
        return await self._freeze(ref, pause=False)

    async def _freeze(self, ref: str, *, pause: bool) -> Container:
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            runtime = self._runtime(container)
            self._require(runtime, "pause")
            want, need = (State.PAUSED, State.RUNNING) if pause else (State.RUNNING, State.PAUSED)
            if container.state.status != need:
                raise Conflict(
                    f"container {container.name} is {container.state.status}, not {need}"
                )
            with operation(
                "container.pause" if pause else "container.resume",
                container_id=container.id,
                runtime=runtime.name,
            ):
                await (runtime.pause if pause else runtime.resume)(container.id)
            container.state.status = want
            self.containers.put(container)
            self._publish(container, "pause" if pause else "unpause")
            return container

    async def update(
        self, ref: str, resources: Resources, *, restart_policy: Any = None
    ) -> Container:
        """Change limits; applied at once to a running container, kept for the next start."""
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            merged = msgspec.structs.replace(
                container.config.resources,
                **{
                    f: getattr(resources, f)
                    for f in resources.__struct_fields__
                    if getattr(resources, f) is not None
                },
            )
            merged = msgspec.convert(msgspec.to_builtins(merged), Resources)
            spec = msgspec.json.decode(container.spec, type=oci.Spec)
            new = oci.resources_from(merged)
            if spec.linux is not None and spec.linux.resources is not None:
                new.devices = spec.linux.resources.devices
                spec.linux.resources = new
            changed = any(getattr(resources, f) is not None for f in resources.__struct_fields__)
            if changed and container.state.status in (State.RUNNING, State.PAUSED):
                runtime = self._runtime(container)
                self._require(runtime, "update")
                await runtime.update(container.id, oci.resources_from(merged))
            container.config.resources = merged
            if restart_policy is not None:
                if container.config.auto_remove and restart_policy.name != "no":
                    raise Conflict(
                        f"container {container.name} removes itself on exit "
                        "and cannot have a restart policy"
                    )
                container.config.restart_policy = restart_policy
            container.spec = msgspec.json.encode(spec)
            self.containers.put(container)
            self._publish(container, "update")
            return container

    async def network_connect(self, network: str, ref: str) -> Container:
        """Join a network; a running container is attached at once."""
        record = self.network_get(network)
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            current = container.config.networks or [self.config.default_network]
            if record.name in current:
                raise Conflict(f"container {container.name} is already on network {record.name}")
            if {"host", "none"} & {*current, record.name}:
                raise Conflict(
                    f"cannot connect {container.name} to {record.name}: "
                    "host and none networks stand alone"
                )
            if container.state.status in (State.RUNNING, State.PAUSED):
                await self._attach_one(container, record.name)
            container.config.networks = [*current, record.name]
            self.containers.put(container)
        self.events.publish(
            "network", "connect", record.id, {"name": record.name, "container": container.id}
        )
        return container

    async def network_disconnect(self, network: str, ref: str) -> Container:
        record = self.network_get(network)
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            current = container.config.networks or [self.config.default_network]
            if record.name not in current:
                raise Conflict(f"container {container.name} is not on network {record.name}")
            for attachment in [a for a in container.attachments if a.network == record.name]:
                await self._network_driver(record.name).detach(self._sandbox(container), attachment)
                container.attachments.remove(attachment)
            remaining = [n for n in current if n != record.name]
            container.config.networks = remaining or ["none"]
            self.containers.put(container)
        self.events.publish(
            "network", "disconnect", record.id, {"name": record.name, "container": container.id}
        )
        return container

    async def rename(self, ref: str, new_name: str) -> Container:
        new_name = validate_name(new_name)
        container = self.lookup(ref)
        async with self._lock(container.id):
            container = self.lookup(container.id)
            old = container.name
            container.name = new_name
            self.containers.put(container)  # Conflict when the name is taken
            self._publish(container, "rename", oldName=old)
            return container

    async def exec(self, ref: str, config: ExecConfig) -> tuple[str, ExecProcess]:
        """Start a process in a running container; the caller owns the returned process."""
        container = self.lookup(ref)
        if container.state.status != State.RUNNING:
            raise Conflict(f"container {container.name} is {container.state.status}, not running")
        runtime = self._runtime(container)
        self._require(runtime, "exec")
        spec = msgspec.json.decode(container.spec, type=oci.Spec)
        process = exec_process(spec, config)
        exec_id = secrets.token_hex(32)
        with operation("container.exec", container_id=container.id, runtime=runtime.name):
            proc = await runtime.exec(container.id, exec_id, process)
        self._publish(container, "exec_start", execID=exec_id)
        return exec_id, proc

    async def exec_run(
        self, ref: str, cmd: builtins.list[str], **options: Any
    ) -> tuple[int, bytes, bytes]:
        """Run ``cmd`` to completion; return (exit code, stdout, stderr)."""
        config = ExecConfig(cmd=cmd, **options)
        _, proc = await self.exec(ref, config)
        out: dict[str, builtins.list[bytes]] = {"stdout": [], "stderr": []}
        if not config.tty:
            await proc.close_stdin()  # nothing to send: the process sees end of input
        async for stream, chunk in proc.output():
            out[stream].append(chunk)
        code = await proc.wait()
        return code, b"".join(out["stdout"]), b"".join(out["stderr"])

    async def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        since: float = 0.0,
        until: float = 0.0,
        tail: int | None = None,
    ) -> AsyncIterator[LogRecord]:
        container = self.lookup(ref)

        async def running() -> bool:
            current = self.containers.get(container.id)
            return current is not None and current.state.status in _ACTIVE

        async for record in read_logs(
            Path(container.log_path),
            follow=follow,
            since=since,
            until=until,
            tail=tail,
            running=running,
        ):
            yield record

    async def stats(self, ref: str) -> Stats:
        container = self.lookup(ref)
        if container.state.status not in (State.RUNNING, State.PAUSED):
            raise Conflict(f"container {container.name} is not running")
        runtime = self._runtime(container)
        self._require(runtime, "stats")
        return await runtime.stats(container.id)

    @staticmethod
    def _require(runtime: Runtime, capability: str) -> None:
        if capability not in runtime.describe().capabilities:
            raise NotSupported(f"the {runtime.name} runtime does not support {capability}")
