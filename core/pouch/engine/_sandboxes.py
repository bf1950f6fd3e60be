"""Sandboxes: what the containers of one sandbox share, made before they run.

A sandbox owns its network namespace, its network attachments and its
hostname, hosts and resolv.conf files; a runtime that holds sandboxes itself
(``Capability.SANDBOXES``: a VM, a pod's infra process) is asked to create and
start it too. A plain container is a sandbox of one: its sandbox has its ID and
lives from its start to its exit. Everything is released in reverse,
idempotently, so a failure part-way or a restart after a crash leaves nothing.
The attachments are recorded on the container as they are made.

After an exit the network is released in the background (``network_later``,
``pouch.engine._releases``): the record says at once that nothing is held
any more, and a start waits for what it needs of the release
(``Releases.settled``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from pouch import oci
from pouch.drivers import (
    Capability,
    Endpoint,
    NetworkAttachment,
    Runtime,
    Sandbox,
    SandboxRuntime,
    SandboxState,
)
from pouch.engine._etc_files import etc_mounts
from pouch.engine._networks import Networks
from pouch.engine._records import Records
from pouch.engine._releases import Releases
from pouch.errors import Conflict, NoSuchObject
from pouch.events import EventBus
from pouch.models import Container, State
from pouch.netns import create_netns, remove_netns

__all__ = ["Sandboxes", "sandbox_runtime"]

log = logging.getLogger(__name__)


class _SandboxOfOne:
    """The sandbox lifecycle of a runtime that has none: nothing to do."""

    async def create_sandbox(self, sandbox: Sandbox) -> SandboxState:
        return SandboxState(id=sandbox.id, status="created")

    async def start_sandbox(self, sandbox_id: str) -> SandboxState:
        return SandboxState(id=sandbox_id, status="ready")

    async def stop_sandbox(self, sandbox_id: str) -> None:
        return None

    async def delete_sandbox(self, sandbox_id: str) -> None:
        return None

    async def sandbox_state(self, sandbox_id: str) -> SandboxState:
        return SandboxState(id=sandbox_id, status="ready")

    async def list_sandboxes(self) -> list[SandboxState]:
        return []


def sandbox_runtime(runtime: Runtime) -> SandboxRuntime:
    """``runtime`` itself when it holds sandboxes, else a sandbox-of-one stand-in."""
    if Capability.SANDBOXES in runtime.describe().capabilities and isinstance(
        runtime, SandboxRuntime
    ):
        return runtime
    return _SandboxOfOne()


class Sandboxes:
    def __init__(
        self,
        records: Records,
        networks: Networks,
        events: EventBus,
        run_root: Path,
        releases: Releases | None = None,
    ):
        self.records = records
        self.networks = networks
        self.events = events
        self.run_root = run_root
        self.releases = releases or Releases(None)

    def _network_owner(self, container: Container) -> Container:
        """The container whose network ``container`` uses: itself, or the one it shares."""
        if not container.config.network_container:
            return container
        try:
            return self.records.lookup(container.config.network_container)
        except NoSuchObject:
            return container

    def describe(self, container: Container) -> Sandbox:
        """The sandbox ``container`` runs in, as runtimes and network drivers see it."""
        owner = self._network_owner(container)
        directory = owner.home
        netns_path = owner.netns_path
        if owner is not container and not netns_path and owner.state.pid:
            netns_path = f"/proc/{owner.state.pid}/ns/net"
        return Sandbox(
            id=container.sandbox_id or container.id,
            hostname=owner.config.hostname or owner.id[:12],
            netns_path=netns_path,
            host_network=container.config.networks == ["host"],
            hosts_path=str(directory / "hosts"),
            resolv_conf_path=str(directory / "resolv.conf"),
            hostname_path=str(directory / "hostname"),
            name=container.name,
            ports=list(container.config.ports),
            endpoints=dict(container.config.endpoints),
        )

    async def setup(self, container: Container, runtime: Runtime) -> Sandbox:
        """Pin the namespace if needed, attach every network, write the /etc files,
        and have a sandbox-holding runtime make its sandbox; undo all on failure."""
        if container.config.network_container:
            owner = self._network_owner(container)
            if owner is container or owner.state.status not in (State.RUNNING, State.PAUSED):
                raise Conflict(
                    f"cannot join the network of container {owner.name}: it is not running"
                    if owner is not container
                    else "the container whose network this one shares has been removed"
                )
        await self._settled_before(container)
        names = self.networks.of(container)
        drivers = [(name, self.networks.driver(name)) for name in names]
        container.attachments = []
        try:
            if any(Capability.NETNS in d.describe().capabilities for _, d in drivers):
                path = self.run_root / "netns" / (container.sandbox_id or container.id)
                container.netns_path = str(await create_netns(path))
                self.records.put(container)  # what to release, should we crash now
            sandbox = self.describe(container)
            for name, driver in drivers:
                async with self.networks.uses.use(name):
                    options = self.networks.get(name).options
                    container.attachments.append(await driver.attach(sandbox, name, options))
                    self.records.put(container)
            holder = sandbox_runtime(runtime)
            await holder.create_sandbox(sandbox)
            await holder.start_sandbox(sandbox.id)
        except BaseException:
            await self.teardown(container, runtime)
            raise
        return sandbox

    def etc_mounts(self, container: Container, sandbox: Sandbox) -> list[oci.Mount]:
        """Write the sandbox's hostname, hosts and resolv.conf; the mounts over the image's.

        A container sharing another's network uses that one's files as they are.
        """
        if not container.config.network_container:
            return etc_mounts(container, sandbox)
        taken = {m.target for m in container.config.mounts}
        files = {
            "/etc/hostname": sandbox.hostname_path,
            "/etc/hosts": sandbox.hosts_path,
            "/etc/resolv.conf": sandbox.resolv_conf_path,
        }
        return [
            oci.Mount(
                destination=target, type="bind", source=source, options=["rbind", "rprivate", "rw"]
            )
            for target, source in files.items()
            if target not in taken and Path(source).exists()
        ]

    async def teardown(
        self, container: Container, runtime: Runtime | None, *, network_later: bool = False
    ) -> None:
        """Release the sandbox: the runtime's part, attachments, namespace. Safe to repeat.

        With ``network_later`` the attachments and the namespace are released
        in the background; ``Releases.settled`` waits for that.
        """
        sandbox = self.describe(container)
        if runtime is not None:
            holder = sandbox_runtime(runtime)
            try:
                await holder.stop_sandbox(sandbox.id)
                await holder.delete_sandbox(sandbox.id)
            except Exception:
                log.exception("container %s: deleting its sandbox failed", container.short_id)
        attachments = list(reversed(container.attachments))
        netns = container.netns_path
        container.attachments = []
        container.netns_path = ""
        if not attachments and not netns:
            return
        if network_later and self.releases.background:

            async def release() -> None:
                await self._release(sandbox, attachments, netns)

            self.releases.start(sandbox.id, release, name=f"release network {sandbox.id[:12]}")
            return
        await self._release(sandbox, attachments, netns)

    async def _release(
        self, sandbox: Sandbox, attachments: list[NetworkAttachment], netns: str
    ) -> None:
        for attachment in attachments:
            try:
                async with self.networks.uses.hold(attachment.network):
                    await self.networks.driver(attachment.network).detach(sandbox, attachment)
            except Exception:
                network = attachment.network
                log.exception("sandbox %s: detaching %s failed", sandbox.id[:12], network)
        if netns:
            await remove_netns(Path(netns))

    async def _settled_before(self, container: Container) -> None:
        """Before a start: its own sandbox's release; every release in flight when
        it publishes ports or asks for fixed addresses a release may still hold."""
        fixed = any(
            e.ipv4_address or e.ipv6_address or e.mac_address
            for e in container.config.endpoints.values()
        )
        if container.config.ports or container.config.publish_all_ports or fixed:
            await self.releases.settled()
        else:
            await self.releases.settled(container.sandbox_id or container.id)

    # -- networks joined and left while the sandbox exists ------------------------

    async def _attach_one(self, container: Container, name: str) -> NetworkAttachment:
        driver = self.networks.driver(name)
        if Capability.NETNS in driver.describe().capabilities and not container.netns_path:
            raise Conflict(
                f"container {container.name} shares no network namespace of its own to "
                f"connect {name} to; restart it to join the network"
            )
        async with self.networks.uses.use(name):
            attachment = await driver.attach(
                self.describe(container), name, self.networks.get(name).options
            )
        container.attachments.append(attachment)
        return attachment

    async def connect(self, network: str, ref: str, endpoint: Endpoint | None = None) -> Container:
        """Join a network; a running container is attached at once."""
        record = self.networks.get(network)
        if endpoint is not None:
            self.networks.check_endpoint(record.name, endpoint)
        container = self.records.lookup(ref)
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            current = self.networks.of(container)
            running = container.state.status in (State.RUNNING, State.PAUSED)
            if current == ["none"] and record.name not in ("host", "none"):
                current = []  # left every network (or never had one): joining one replaces none
            if record.name in current:
                raise Conflict(f"container {container.name} is already on network {record.name}")
            if {"host", "none"} & {*current, record.name}:
                raise Conflict(
                    f"cannot connect {container.name} to {record.name}: "
                    "host and none networks stand alone"
                )
            container.config.networks = [*current, record.name]
            if endpoint is not None and endpoint != Endpoint():
                container.config.endpoints[record.name] = endpoint
            if running:
                try:
                    await self._attach_one(container, record.name)
                except BaseException:
                    container.config.endpoints.pop(record.name, None)
                    raise
            self.records.put(container)
        self.events.publish(
            "network", "connect", record.id, {"name": record.name, "container": container.id}
        )
        return container

    async def disconnect(self, network: str, ref: str) -> Container:
        """Leave a network; a running container is detached at once."""
        record = self.networks.get(network)
        container = self.records.lookup(ref)
        async with self.records.lock(container.id):
            container = self.records.lookup(container.id)
            current = self.networks.of(container)
            if record.name not in current:
                raise Conflict(f"container {container.name} is not on network {record.name}")
            for attachment in [a for a in container.attachments if a.network == record.name]:
                await self.networks.driver(record.name).detach(self.describe(container), attachment)
                container.attachments.remove(attachment)
            remaining = [n for n in current if n != record.name]
            container.config.endpoints.pop(record.name, None)
            container.config.networks = remaining or ["none"]
            self.records.put(container)
        self.events.publish(
            "network", "disconnect", record.id, {"name": record.name, "container": container.id}
        )
        return container
