"""A sandbox's /etc files: hostname, hosts and resolv.conf, written by the engine.

The files live in the container's directory and are bind-mounted over the
image's, unless the user mounted something there. Name servers come from the
network attachments, else from the host (less loopback resolvers, as docker).
"""

from __future__ import annotations

from pathlib import Path

from pouch import oci
from pouch.drivers import Sandbox
from pouch.models import Container

__all__ = ["etc_mounts"]

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


def etc_mounts(container: Container, sandbox: Sandbox) -> list[oci.Mount]:
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
