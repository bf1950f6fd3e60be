"""The ``bridge`` network driver: pouch networks through the CNI plugin binaries.

Each network is a configuration list (``pouch_cni._networks``); attaching a
sandbox is a CNI ADD of that list into the sandbox's pinned namespace, as
``eth0``, ``eth1`` … in the order networks join; detaching is a DEL with the
cached result. The attachment cache (``pouch_cni._cache``) is written before
ADD and after each plugin, so DEL works after an engine restart and the gc at
engine start can undo an ADD that a crash interrupted. On user-defined
networks the members' hosts files name one another (``pouch_cni._hosts``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import anyio
import msgspec

from pouch.drivers import (
    Capability,
    DriverInfo,
    Endpoint,
    NetworkAttachment,
    PortMapping,
    Sandbox,
)
from pouch.errors import Conflict, InvalidArgument, NoSuchObject, PouchError
from pouch_cni import _chain
from pouch_cni._cache import AttachmentCache
from pouch_cni._endpoints import endpoint_args, endpoint_conflist
from pouch_cni._exec import PluginRunner
from pouch_cni._host import is_netns, sweep_masquerade
from pouch_cni._hosts import peer_lines, rewrite_network_lines
from pouch_cni._networks import NetworkConfigs
from pouch_cni._ports import check_ports, resolve_ports
from pouch_cni._settings import CNISettings
from pouch_cni._types import CacheEntry

__all__ = ["BridgeDriver"]

log = logging.getLogger(__name__)

VERSION = "0.1.0"


class BridgeDriver:
    """Bridge networks with published ports, isolation and names, via CNI."""

    name = "bridge"

    def __init__(self, settings: CNISettings, default_network: str) -> None:
        self.settings = settings
        self.runner = PluginRunner(settings.plugin_dirs, settings.plugin_timeout)
        self.cache = AttachmentCache(settings.cache)
        self.networks = NetworkConfigs(settings, self.runner, default_network)
        self.default_network = default_network
        self._lock = anyio.Lock()  # network files and interface names
        self._hosts_lock = threading.Lock()  # hosts files (also from sync hooks)
        self._adding: set[str] = set()

    def describe(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            version=VERSION,
            capabilities=[
                Capability.NETNS,
                Capability.PORTS,
                Capability.NAMES,
                Capability.STATIC_ADDRESS,
                Capability.ISOLATION,
                Capability.CHECK,
                Capability.GC,
            ],
            details={
                "conf_dir": str(self.settings.conf),
                "plugin_dirs": ":".join(str(d) for d in self.settings.plugin_dirs),
                "cache_dir": str(self.settings.cache),
                "default_subnet": self.settings.default_subnet,
            },
        )

    # -- networks ---------------------------------------------------------------

    async def create_network(self, name: str, options: dict[str, str]) -> None:
        async with self._lock:
            users = self.cache.for_network(name)
            if users:
                raise Conflict(f"network {name} still has attachments ({_names(users)})")
            await self.networks.create(name, options)

    async def remove_network(self, name: str) -> None:
        async with self._lock:
            users = self.cache.for_network(name)
            if users:
                raise Conflict(
                    f"network {name} is in use by {_names(users)}; stop or disconnect them first"
                )
            await self.networks.remove(name)

    async def status(self, network: str) -> dict[str, str]:
        """STATUS of each plugin of the network where the plugins support it (CNI 1.1)."""
        return await _chain.status(self.runner, self._conflist(network))

    def _conflist(self, network: str) -> dict[str, Any]:
        conflist = self.networks.get(network)
        if conflist is None:
            raise NoSuchObject(
                f"network {network} has no CNI configuration in {self.settings.conf}"
            )
        return conflist

    # -- attachments --------------------------------------------------------------

    async def attach(
        self, sandbox: Sandbox, network: str, options: dict[str, str]
    ) -> NetworkAttachment:
        if not sandbox.netns_path:
            raise PouchError(f"network {network}: the sandbox has no network namespace to join")
        self.networks.require_plugins()
        async with self._lock:
            conflist = self.networks.get(network) or await self.networks.create(network, options)
            mine = self.cache.for_container(sandbox.id)
            for stale in [e for e in mine if e.networkName == network]:
                await self._delete(stale, sandbox.netns_path)  # never two ADDs without a DEL
            taken = {e.ifName for e in mine if e.networkName != network}
            ifname = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
            asked = sandbox.endpoints.get(network, Endpoint())
            if asked.aliases and network == self.default_network:
                raise InvalidArgument(
                    f"network {network} resolves no names: aliases need a user-defined network",
                    field=f"endpoints.{network}.aliases",
                )
            ports = resolve_ports(sandbox.ports) if ifname == "eth0" else []
            if ports:
                check_ports(ports, [e for e in self.cache.all() if e.containerId != sandbox.id])
            entry = CacheEntry(
                containerId=sandbox.id,
                ifName=ifname,
                networkName=network,
                netns=sandbox.netns_path,
                config=endpoint_conflist(conflist, asked, ports=bool(ports)),
                cniArgs=endpoint_args(asked),
                capabilityArgs={"portMappings": [_portmap(p) for p in ports]} if ports else {},
                sandboxName=sandbox.name,
                aliases=list(asked.aliases),
                hostsPath=sandbox.hosts_path,
                resolveNames=network != self.default_network,
            )
            self.cache.put(entry)  # reserves the interface name
            self._adding.add(entry.key)
        try:
            entry = await _chain.add(self.runner, self.cache, entry)
        finally:
            self._adding.discard(entry.key)
        if entry.resolveNames:
            self._sync_network_hosts(network, clear=None)
        return self._attachment(entry, ports)

    def _attachment(self, entry: CacheEntry, ports: list[PortMapping]) -> NetworkAttachment:
        result = entry.decoded_result()
        attachment = NetworkAttachment(
            network=entry.networkName,
            interface=entry.ifName,
            driver_state=msgspec.json.encode(entry),
            ports=ports,
        )
        if result is None:
            return attachment
        found = result.sandbox_interface(entry.ifName)
        ips = [ip for ip in result.ips if found is None or ip.interface in (None, found[0])]
        attachment.ips = [ip.address for ip in ips]
        attachment.gateway = next((ip.gateway for ip in ips if ip.gateway), "")
        attachment.mac = found[1].mac if found else ""
        attachment.dns = list(result.dns.nameservers)
        attachment.dns_search = list(result.dns.search)
        members = self.cache.for_network(entry.networkName) if entry.resolveNames else []
        attachment.hosts = peer_lines(entry.networkName, members, entry.containerId)
        return attachment

    async def detach(self, sandbox: Sandbox, attachment: NetworkAttachment) -> None:
        entry = self.cache.get(attachment.network, sandbox.id, attachment.interface)
        if entry is None:
            # Released already (or the cache was lost): DEL again, but without a
            # prevResult, which every plugin answers by releasing what it still finds
            # for this container — never rules for an address reused since.
            recorded = _decode_state(attachment.driver_state)
            config = recorded.config if recorded else self.networks.get(attachment.network)
            if not config:
                return  # nothing was ever set up that we could name
            entry = CacheEntry(
                containerId=sandbox.id,
                ifName=attachment.interface or "eth0",
                networkName=attachment.network,
                config=config,
                complete=True,
                hostsPath=recorded.hostsPath if recorded else sandbox.hosts_path,
                resolveNames=recorded.resolveNames if recorded else False,
            )
        await self._delete(entry, sandbox.netns_path)

    async def _delete(self, entry: CacheEntry, netns_path: str) -> None:
        netns = netns_path if is_netns(netns_path) else ""
        await _chain.delete(self.runner, entry, netns)
        if entry.config["plugins"][0].get("ipMasq"):
            # The bridge plugin finds the address to unmasquerade on the interface
            # in the namespace: when the namespace is gone, or a DEL cut short
            # removed the interface already, its rules are left to sweep.
            await sweep_masquerade(entry.networkName, entry.containerId)
        self.cache.remove(entry)
        if entry.resolveNames:
            self._sync_network_hosts(entry.networkName, clear=entry.hostsPath)

    async def check(self, sandbox: Sandbox, attachment: NetworkAttachment) -> None:
        """CHECK the attachment against its cached result; raises CNIError."""
        entry = self.cache.get(attachment.network, sandbox.id, attachment.interface)
        if entry is None or not entry.complete:
            raise NoSuchObject(
                f"no CNI attachment of {sandbox.id[:12]} to {attachment.network} is cached"
            )
        await _chain.check(self.runner, entry, sandbox.netns_path)

    async def gc(self, live_sandboxes: set[str]) -> None:
        """DEL cached attachments whose sandbox or namespace is gone; then CNI GC."""
        if self.cache.sweep_partial():
            log.info("cni: removed cache entries a crash left half-written")
        for entry in self.cache.all():
            if entry.key in self._adding:
                continue
            alive = entry.complete and entry.containerId in live_sandboxes and is_netns(entry.netns)
            if alive:
                continue
            log.info("cni: releasing stale attachment %s", entry.key)
            try:
                await self._delete(entry, entry.netns)
            except Exception as exc:
                log.warning("cni: releasing %s failed: %s", entry.key, exc)
        valid: dict[str, list[tuple[str, str]]] = {}
        for entry in self.cache.all():
            valid.setdefault(entry.networkName, []).append((entry.containerId, entry.ifName))
        for name in self.networks.names():
            conflist = self.networks.get(name)
            if conflist is None:
                continue
            try:
                await _chain.garbage_collect(self.runner, conflist, valid.get(name, []))
            except Exception as exc:
                log.warning("cni: GC of network %s failed: %s", name, exc)
            self._sync_network_hosts(name, clear=None)

    # -- names --------------------------------------------------------------------

    def refresh_hosts(self, sandbox_id: str) -> None:
        """Rewrite the peers in a sandbox's hosts file (after the engine wrote it)."""
        for entry in self.cache.for_container(sandbox_id):
            if entry.resolveNames:
                self._sync_network_hosts(entry.networkName, clear=None)

    def _sync_network_hosts(self, network: str, clear: str | None) -> None:
        """Give every member of ``network`` its peers; empty ``clear``'s lines."""
        with self._hosts_lock:
            members = [e for e in self.cache.for_network(network) if e.complete]
            members = [e for e in members if e.resolveNames]
            for member in members:
                lines = peer_lines(network, members, member.containerId)
                rewrite_network_lines(member.hostsPath, network, lines)
            if clear:
                rewrite_network_lines(clear, network, [])


def _decode_state(state: bytes) -> CacheEntry | None:
    try:
        return msgspec.json.decode(state, type=CacheEntry) if state else None
    except msgspec.DecodeError:
        return None


def _names(entries: list[CacheEntry]) -> str:
    return ", ".join(sorted({e.sandboxName or e.containerId[:12] for e in entries}))


def _portmap(port: PortMapping) -> dict[str, object]:
    mapping: dict[str, object] = {
        "hostPort": port.host_port,
        "containerPort": port.container_port,
        "protocol": port.protocol,
    }
    if port.host_ip:
        mapping["hostIP"] = port.host_ip
    return mapping
