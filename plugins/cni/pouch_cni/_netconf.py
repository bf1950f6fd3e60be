"""A pouch network as a CNI configuration list: options checked, conflist built.

Options (from ``pouch network create`` / the Docker API) are validated here
and every refusal names the field: ``subnet``, ``gateway``, ``ip_range``,
``bridge``, ``mtu``. The list chains the Debian plugins: ``bridge`` with
``host-local`` IPAM, ``portmap`` (capability ``portMappings``) and
``firewall`` (``ingressPolicy: same-bridge``, which isolates the bridges from
one another, as Docker does).
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

from pouch.errors import InvalidArgument

__all__ = [
    "CHAIN",
    "IPNetwork",
    "NetworkSpec",
    "bridge_of",
    "build_conflist",
    "check_pairs",
    "parse_options",
    "read_conflists",
    "subnets_of",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# The plugin types every pouch network chains, in ADD order.
CHAIN = ("bridge", "portmap", "firewall")
IPAM = "host-local"
_IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,14}")
_BRIDGE_KEYS = ("bridge", "com.docker.network.bridge.name")
_MTU_KEYS = ("mtu", "com.docker.network.driver.mtu")
_MASQ_KEY = "com.docker.network.bridge.enable_ip_masquerade"


class Range:
    def __init__(self, subnet: IPNetwork, gateway: str, start: str = "", end: str = "") -> None:
        self.subnet = subnet
        self.gateway = gateway
        self.start = start
        self.end = end


class NetworkSpec:
    """What a network's options ask for, validated."""

    def __init__(self, name: str, bridge: str) -> None:
        self.name = name
        self.bridge = bridge
        self.ranges: list[Range] = []
        self.mtu = 0
        self.ip_masq = True
        self.internal = False


def _subnet(value: str, field: str) -> IPNetwork:
    text = value.strip()
    if "/" not in text:
        raise InvalidArgument(f"{value!r} needs a prefix length (e.g. /24)", field=field)
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidArgument(
                f"{value!r} is not a subnet in CIDR notation", field=field
            ) from None
        raise InvalidArgument(
            f"{value!r} has host bits set; did you mean {loose}?", field=field
        ) from None
    if network.num_addresses < 4:
        raise InvalidArgument(
            f"{value} is too small for containers (use /30 or larger)", field=field
        )
    return network


def _gateway(value: str, subnet: IPNetwork, field: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidArgument(f"{value!r} is not an IP address", field=field) from None
    if address not in subnet:
        raise InvalidArgument(f"{value} is not in subnet {subnet}", field=field)
    if address == subnet.network_address or (
        subnet.version == 4 and address == subnet.broadcast_address
    ):
        raise InvalidArgument(f"{value} is not a usable host address of {subnet}", field=field)
    return str(address)


def _range(value: str, subnet: IPNetwork, field: str) -> tuple[str, str]:
    """host-local's rangeStart and rangeEnd for the block ``value`` inside ``subnet``."""
    network = _subnet(value, field)
    inside = network.network_address in subnet and network.broadcast_address in subnet
    if network.version != subnet.version or not inside:
        raise InvalidArgument(f"{value} is not inside subnet {subnet}", field=field)
    first, last = network.network_address, network.broadcast_address
    if first == subnet.network_address:
        first += 1
    if last == subnet.broadcast_address and subnet.version == 4:
        last -= 1
    return str(first), str(last)


def check_pairs(options: dict[str, str]) -> None:
    """A gateway or an IP range needs the subnet it belongs to."""
    for key in ("gateway", "ip_range"):
        for given in [k for k in options if k.partition(".")[0] == key]:
            if "subnet" + given[len(key) :] not in options:
                raise InvalidArgument(f"{options[given]!r} needs a subnet beside it", field=given)


def parse_options(
    name: str, options: dict[str, str], *, bridge: str, default_subnet: str
) -> NetworkSpec:
    """Validate ``options``; ``default_subnet`` is used when none is given."""
    spec = NetworkSpec(name, options.get(_BRIDGE_KEYS[0]) or options.get(_BRIDGE_KEYS[1]) or bridge)
    if not _IFNAME.fullmatch(spec.bridge):
        raise InvalidArgument(
            f"{spec.bridge!r} is not a valid interface name (at most 15 letters, digits, '_.-')",
            field="bridge",
        )
    suffixes = sorted(
        {key.partition(".")[2] for key in options if key.partition(".")[0] == "subnet"},
        key=lambda s: int(s) if s.isdigit() else -1,
    )
    check_pairs(options)
    if not suffixes:
        options = {**options, "subnet": default_subnet}
        suffixes = [""]
    for suffix in suffixes:
        tail = f".{suffix}" if suffix else ""
        subnet = _subnet(options["subnet" + tail], "subnet" + tail)
        gateway_text = options.get("gateway" + tail, "")
        gateway = (
            _gateway(gateway_text, subnet, "gateway" + tail)
            if gateway_text
            else str(subnet.network_address + 1)
        )
        start, end = (
            _range(options["ip_range" + tail], subnet, "ip_range" + tail)
            if options.get("ip_range" + tail)
            else ("", "")
        )
        for other in spec.ranges:
            if other.subnet.overlaps(subnet):
                raise InvalidArgument(f"{subnet} overlaps {other.subnet}", field="subnet" + tail)
        spec.ranges.append(Range(subnet, gateway, start, end))
    mtu = options.get(_MTU_KEYS[0]) or options.get(_MTU_KEYS[1]) or ""
    if mtu:
        if not mtu.isdigit() or not 68 <= int(mtu) <= 65535:
            raise InvalidArgument(f"{mtu!r} is not an MTU between 68 and 65535", field="mtu")
        spec.mtu = int(mtu)
    spec.internal = options.get("internal", "").lower() in ("1", "true", "yes")
    spec.ip_masq = not spec.internal and options.get(_MASQ_KEY, "true").lower() != "false"
    return spec


def build_conflist(spec: NetworkSpec, cni_version: str, data_dir: Path) -> dict[str, Any]:
    ranges = []
    for item in spec.ranges:
        entry = {"subnet": str(item.subnet), "gateway": item.gateway}
        if item.start:
            entry.update(rangeStart=item.start, rangeEnd=item.end)
        ranges.append([entry])
    routes = (
        []
        if spec.internal
        else [
            {"dst": "0.0.0.0/0" if v == 4 else "::/0"}
            for v in sorted({item.subnet.version for item in spec.ranges})
        ]
    )
    bridge: dict[str, Any] = {
        "type": "bridge",
        "bridge": spec.bridge,
        "isGateway": not spec.internal,
        "ipMasq": spec.ip_masq,
        "hairpinMode": True,
        "ipam": {"type": IPAM, "dataDir": str(data_dir), "ranges": ranges, "routes": routes},
    }
    if spec.mtu:
        bridge["mtu"] = spec.mtu
    return {
        "cniVersion": cni_version,
        "name": spec.name,
        "plugins": [
            bridge,
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "firewall", "backend": "iptables", "ingressPolicy": "same-bridge"},
        ],
    }


def read_conflists(directory: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every readable configuration list in ``directory``, by network name."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.conflist")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            found.setdefault(data["name"], (path, data))
    return found


def subnets_of(conflist: dict[str, Any]) -> list[IPNetwork]:
    """The subnets the list's IPAM hands out from (host-local ``ranges`` or ``subnet``)."""
    subnets: list[IPNetwork] = []
    for plugin in conflist.get("plugins", []):
        ipam = plugin.get("ipam") if isinstance(plugin, dict) else None
        if not isinstance(ipam, dict):
            continue
        candidates = [ipam.get("subnet")] + [
            item.get("subnet") for group in ipam.get("ranges", []) for item in group
        ]
        for candidate in candidates:
            try:
                subnets.append(ipaddress.ip_network(str(candidate), strict=False))
            except ValueError:
                continue
    return subnets


def bridge_of(conflist: dict[str, Any]) -> str:
    for plugin in conflist.get("plugins", []):
        if isinstance(plugin, dict) and plugin.get("type") == "bridge":
            return str(plugin.get("bridge", ""))
    return ""
