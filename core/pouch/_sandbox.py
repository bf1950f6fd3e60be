"""A container's sandbox at start: network namespace, attachments, /etc files.

Before the runtime creates a container the engine pins a network namespace
(when a network driver needs one), attaches every network the container joins
and writes its ``hostname``, ``hosts`` and ``resolv.conf`` files, which are
bind-mounted over the image's. On exit everything is released in reverse,
idempotently, so a failure part-way or a restart after a crash leaves nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pouch import oci
from pouch._networks import NetworkOps
from pouch.drivers import NetworkAttachment, NetworkDriver, Sandbox
from pouch.errors import Conflict
from pouch.netns import create_netns, remove_netns

if TYPE_CHECKING:
    from pouch.models import Container

__all__ = ["SandboxOps"]

log = logging.getLogger(__name__)

_ETC_FILES = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


def _host_nameservers() -> tuple[list[str], list[str]]:
    """The host's resolvers, less loopback ones a container cannot reach (as docker)."""
    servers: list[str] = []
    search: list[str] = []
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and not parts[1].startswith("127."):
            servers.append(parts[1])
        elif parts and parts[0] == "search":
            search = parts[1:]
    return servers or ["8.8.8.8", "8.8.4.4"], search


class SandboxOps(NetworkOps):
    def _network_driver(self, name: str) -> NetworkDriver:
        return self.kernel.networks.get(self.network_get(name).driver)

    def _sandbox(self, container: Container) -> Sandbox:
        directory = Path(container.log_path).parent
        return Sandbox(
            id=container.sandbox_id or container.id,
            hostname=container.config.hostname or container.id[:12],
            netns_path=container.netns_path,
            host_network=container.config.networks == ["host"],
            hosts_path=str(directory / "hosts"),
            resolv_conf_path=str(directory / "resolv.conf"),
            hostname_path=str(directory / "hostname"),
            name=container.name,
            ports=list(container.config.ports),
        )

    async def _attach_networks(self, container: Container) -> Sandbox:
        """Pin the namespace if needed and attach every network; undo all on failure."""
        names = container.config.networks or [self.config.default_network]
        drivers = [(name, self._network_driver(name)) for name in names]
        container.attachments = []
        try:
            if any("netns" in d.describe().capabilities for _, d in drivers):
                path = self.config.run_root / "netns" / (container.sandbox_id or container.id)
                container.netns_path = str(await create_netns(path))
                self.containers.put(container)  # what to release, should we crash now
            sandbox = self._sandbox(container)
            for name, driver in drivers:
                options = self.network_get(name).options
                container.attachments.append(await driver.attach(sandbox, name, options))
                self.containers.put(container)
        except BaseException:
            await self._detach_networks(container)
            raise
        return sandbox

    async def _attach_one(self, container: Container, name: str) -> NetworkAttachment:
        driver = self._network_driver(name)
        if "netns" in driver.describe().capabilities and not container.netns_path:
            raise Conflict(
                f"container {container.name} shares no network namespace of its own to "
                f"connect {name} to; restart it to join the network"
            )
        attachment = await driver.attach(
            self._sandbox(container), name, self.network_get(name).options
        )
        container.attachments.append(attachment)
        return attachment

    async def _detach_networks(self, container: Container) -> None:
        sandbox = self._sandbox(container)
        for attachment in reversed(container.attachments):
            try:
                await self._network_driver(attachment.network).detach(sandbox, attachment)
            except Exception:
                log.exception(
                    "container %s: detaching %s failed", container.short_id, attachment.network
                )
        container.attachments = []
        if container.netns_path:
            await remove_netns(Path(container.netns_path))
            container.netns_path = ""

    def _etc_mounts(self, container: Container, sandbox: Sandbox) -> list[oci.Mount]:
        """Write hostname, hosts and resolv.conf; mounts for those the user did not mount."""
        taken = {m.target for m in container.config.mounts}
        if sandbox.host_network:
            hostname = (
                Path("/etc/hostname").read_text().strip()
                if Path("/etc/hostname").exists()
                else sandbox.hostname
            )
            hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
        else:
            hostname = sandbox.hostname
            addresses = [ip.split("/")[0] for a in container.attachments for ip in a.ips]
            names = (
                f"{hostname}.{container.config.domainname} {hostname}"
                if (container.config.domainname)
                else hostname
            )
            hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + "".join(
                f"{address}\t{names}\n" for address in addresses[:1]
            )
            hosts += "".join(f"{line}\n" for a in container.attachments for line in a.hosts)
        servers, search = _host_nameservers()
        driver_servers = [s for a in container.attachments for s in a.dns]
        driver_search = [s for a in container.attachments for s in a.dns_search]
        resolv = "".join(f"nameserver {s}\n" for s in (driver_servers or servers))
        if driver_search or search:
            resolv += "search " + " ".join(driver_search or search) + "\n"
        contents = {
            sandbox.hostname_path: hostname + "\n",
            sandbox.hosts_path: hosts,
            sandbox.resolv_conf_path: resolv,
        }
        for path, text in contents.items():
            Path(path).write_text(text)
        sources = dict(
            zip(
                _ETC_FILES,
                (sandbox.hostname_path, sandbox.hosts_path, sandbox.resolv_conf_path),
                strict=True,
            )
        )
        return [
            oci.Mount(
                destination=target, type="bind", source=source, options=["rbind", "rprivate", "rw"]
            )
            for target, source in sources.items()
            if target not in taken
        ]
