"""A sandbox's /etc files: hostname, hosts and resolv.conf, written by the engine.

The files live in the container's directory and are bind-mounted over the
image's, unless the user mounted something there. Name servers come from the
container's ``--dns``, else the network attachments, else from the host (less
loopback resolvers, as docker); ``--add-host`` lines end the hosts file, with
``host-gateway`` standing for the gateway of the container's network, else
the host's own address.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from pathlib import Path

from pouch import oci
from pouch.drivers import Sandbox
from pouch.models import HOST_GATEWAY, Container, split_host

__all__ = ["append_hosts", "etc_mounts", "host_gateway"]

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


def host_gateway(container: Container) -> str:
    """The address ``host-gateway`` stands for: the network's gateway, else the host's."""
    for attachment in container.attachments:
        if attachment.gateway:
            return attachment.gateway
    # The address the host reaches the world from; connecting UDP sends nothing.
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _extra_hosts(container: Container) -> str:
    lines = []
    for entry in container.config.extra_hosts:
        name, address = split_host(entry)
        if address == HOST_GATEWAY:
            address = host_gateway(container)
        lines.append(f"{address}\t{name}\n")
    return "".join(lines)


def append_hosts(path: Path, lines: Sequence[str]) -> None:
    """Add ``lines`` ("ip names") to the sandbox's hosts file (legacy links)."""
    if lines:
        with path.open("a") as hosts:
            hosts.writelines(f"{line}\n" for line in lines)


def _resolv_conf(container: Container) -> str:
    config = container.config
    servers, search = _host_nameservers()
    driver_servers = [s for a in container.attachments for s in a.dns]
    driver_search = [s for a in container.attachments for s in a.dns_search]
    resolv = "".join(f"nameserver {s}\n" for s in (config.dns or driver_servers or servers))
    chosen = config.dns_search or driver_search or search
    if chosen and chosen != ["."]:  # "." asks for no search domain at all
        resolv += "search " + " ".join(chosen) + "\n"
    if config.dns_options:
        resolv += "options " + " ".join(config.dns_options) + "\n"
    return resolv


def etc_mounts(container: Container, sandbox: Sandbox) -> list[oci.Mount]:
    """Write hostname, hosts and resolv.conf; mounts for those the user did not mount."""
    taken = {m.target for m in container.config.mounts}
    if sandbox.host_network or container.config.uts_mode == "host":
        hostname = (
            Path("/etc/hostname").read_text().strip()
            if Path("/etc/hostname").exists()
            else sandbox.hostname
        )
    else:
        hostname = sandbox.hostname
    if sandbox.host_network:
        hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
    else:
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
    if hosts and not hosts.endswith("\n"):
        hosts += "\n"
    contents = {
        sandbox.hostname_path: hostname + "\n",
        sandbox.hosts_path: hosts + _extra_hosts(container),
        sandbox.resolv_conf_path: _resolv_conf(container),
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
