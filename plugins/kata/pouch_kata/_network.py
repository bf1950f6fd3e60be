"""The VM's network: a tap device beside the sandbox's interface, joined by tc.

The network driver (CNI) has set up the sandbox's namespace: one interface
(a veth into a bridge) with the container's addresses and routes. Here a tap
device is made in the same namespace and tc's ``mirred`` action redirects
every frame arriving on either side to the other, as Kata does; QEMU (started
inside the namespace) puts the tap behind the guest's virtio-net card, whose
MAC is the interface's own, so the bridge, port forwarding and name
resolution see the VM exactly where a runc container would be. The guest is
told the addresses, routes and MTU to set on its card.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from typing import Any

from ._agent_protocol import NetworkSettings
from ._qemu import TAP

__all__ = ["in_netns", "plumb", "unplumb"]


def in_netns(netns: str, argv: list[str]) -> list[str]:
    return ["nsenter", f"--net={netns}", *argv]


def _run(netns: str, *argv: str) -> str:
    done = subprocess.run(
        in_netns(netns, list(argv)), capture_output=True, text=True, timeout=10, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _interface(links: list[dict[str, Any]]) -> dict[str, Any] | None:
    for link in links:
        if link.get("link_type") == "ether" and link.get("ifname") != TAP:
            return link
    return None


def plumb(netns: str) -> NetworkSettings | None:
    """Join a tap to the namespace's interface; None when it has none (``--network none``)."""
    links = json.loads(_run(netns, "ip", "-j", "addr", "show") or "[]")
    link = _interface(links)
    if link is None:
        return None
    name = str(link["ifname"])
    addresses = [
        f"{a['local']}/{a['prefixlen']}"
        for a in link.get("addr_info", [])
        if a.get("scope") == "global" and a.get("family") in ("inet", "inet6")
    ]
    gateways = []
    for family in ("-4", "-6"):
        for route in json.loads(_run(netns, "ip", "-j", family, "route", "show") or "[]"):
            if route.get("dst") == "default" and route.get("gateway"):
                gateways.append(str(route["gateway"]))
    mtu = int(link.get("mtu", 1500))
    _run(netns, "ip", "tuntap", "add", "dev", TAP, "mode", "tap")
    try:
        _run(netns, "ip", "link", "set", "dev", TAP, "mtu", str(mtu), "up")
        for one, other in ((name, TAP), (TAP, name)):
            _run(netns, "tc", "qdisc", "add", "dev", one, "ingress")
            _run(netns, "tc", "filter", "add", "dev", one, "parent", "ffff:", "protocol", "all",
                 "u32", "match", "u8", "0", "0",
                 "action", "mirred", "egress", "redirect", "dev", other)  # fmt: skip
    except BaseException:
        unplumb(netns)
        raise
    return NetworkSettings(
        mac=str(link["address"]), mtu=mtu, addresses=addresses, gateways=gateways
    )


def unplumb(netns: str) -> None:
    """Remove the tap and the redirects; safe when they (or the namespace) are gone."""
    with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError, ValueError):
        links = json.loads(_run(netns, "ip", "-j", "link", "show") or "[]")
        link = _interface(links)
        if link is not None:
            with contextlib.suppress(RuntimeError):
                _run(netns, "tc", "qdisc", "del", "dev", str(link["ifname"]), "ingress")
        if any(one.get("ifname") == TAP for one in links):
            _run(netns, "ip", "link", "del", "dev", TAP)
