"""Published ports: ``host_port`` 0 resolved to a free port, conflicts refused.

The portmap plugin only writes DNAT rules; nothing listens on the host port,
so nothing would stop two containers (or a host service) from claiming the
same one. Before ADD the driver refuses a port another attachment publishes
or a host socket holds, and picks a free port where the user asked for any.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

import msgspec

from pouch.drivers import PortMapping
from pouch.errors import Conflict, InvalidArgument
from pouch_cni._types import CacheEntry

__all__ = ["check_ports", "resolve_ports"]

_KINDS = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}


def _family(host_ip: str) -> socket.AddressFamily:
    if not host_ip:
        return socket.AF_INET
    try:
        address = ipaddress.ip_address(host_ip)
    except ValueError:
        raise InvalidArgument(f"{host_ip!r} is not an IP address", field="ports.host_ip") from None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def _probe(port: PortMapping) -> int:
    """Bind the host address and port as a listener would; return the port bound."""
    kind = _KINDS.get(port.protocol)
    if kind is None:  # sctp: nothing to probe with
        return port.host_port
    family = _family(port.host_ip)
    address = port.host_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port.host_port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(
                    f"host port {address}:{port.host_port}/{port.protocol} is already in use"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(
                    f"{port.host_ip} is not an address of this host", field="ports.host_ip"
                ) from None
            raise
        bound: int = probe.getsockname()[1]
        return bound


def resolve_ports(ports: list[PortMapping]) -> list[PortMapping]:
    """The ports with every ``host_port`` 0 replaced by a free one; in-use ones refused."""
    resolved = []
    for port in ports:
        host_port = _probe(port)
        resolved.append(msgspec.structs.replace(port, host_port=host_port or port.container_port))
    return resolved


def _overlap(a: str, b: str) -> bool:
    wildcard = ("", "0.0.0.0", "::")
    return a in wildcard or b in wildcard or a == b


def check_ports(ports: list[PortMapping], others: list[CacheEntry]) -> None:
    """Refuse a port another cached attachment already publishes."""
    for port in ports:
        for entry in others:
            for mapping in entry.capabilityArgs.get("portMappings", []):
                if (
                    mapping.get("hostPort") == port.host_port
                    and mapping.get("protocol", "tcp") == port.protocol
                    and _overlap(str(mapping.get("hostIP", "")), port.host_ip)
                ):
                    who = entry.sandboxName or entry.containerId[:12]
                    raise Conflict(
                        f"host port {port.host_port}/{port.protocol} is already published "
                        f"by {who} on network {entry.networkName}"
                    )
