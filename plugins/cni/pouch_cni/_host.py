"""Host state the CNI plugins leave for their runtime to manage.

The plugins never delete a bridge, nor the per-bridge isolation rules of the
firewall plugin (other containers may still use them), and the bridge plugin
can only undo its masquerade rules while the container's namespace still
holds the address. This module does those few things — removing a network's
bridge when the network goes, and sweeping a masquerade chain a DEL could not
reach — plus the host lookups the driver needs (routes, namespaces). It never
sets anything up: that is the plugins' job.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shlex
from pathlib import Path

import anyio

from pouch_cni._netconf import IPNetwork

__all__ = [
    "bridge_in_use",
    "host_routes",
    "is_netns",
    "masquerade_chain",
    "remove_bridge",
    "sweep_masquerade",
]

ISOLATION_COMMENT = "CNI firewall plugin rules (ingressPolicy: same-bridge)"
_MAX_COPIES = 64  # of one isolation rule: at most one per ADD that raced


async def _run(*argv: str) -> tuple[int, str]:
    try:
        done = await anyio.run_process(list(argv), check=False)
    except OSError as exc:
        return 127, str(exc)
    return done.returncode, done.stdout.decode(errors="replace")


def is_netns(path: str) -> bool:
    """Whether ``path`` is a pinned (bind-mounted) network namespace."""
    return bool(path) and os.path.ismount(path)


def bridge_in_use(bridge: str) -> bool:
    ports = Path("/sys/class/net") / bridge / "brif"
    return ports.is_dir() and any(ports.iterdir())


async def host_routes() -> list[tuple[IPNetwork, str]]:
    """The host's routes to subnets (not the default route), with their device."""
    found: list[tuple[IPNetwork, str]] = []
    for family in ("-4", "-6"):
        code, out = await _run("ip", "-j", family, "route", "show", "table", "main")
        if code != 0:
            continue
        try:
            routes = json.loads(out or "[]")
        except ValueError:
            continue
        for route in routes:
            dst = route.get("dst", "")
            if dst in ("default", "") or route.get("type", "unicast") != "unicast":
                continue
            try:
                found.append((ipaddress.ip_network(dst, strict=False), route.get("dev", "?")))
            except ValueError:
                continue
    return found


async def remove_bridge(bridge: str) -> None:
    """Delete a network's bridge and its isolation rules, unless a port is still on it."""
    if not bridge or bridge_in_use(bridge):
        return
    if (Path("/sys/class/net") / bridge).exists():
        await _run("ip", "link", "delete", bridge, "type", "bridge")
    comment = ["-m", "comment", "--comment", ISOLATION_COMMENT]
    for tool in ("iptables", "ip6tables"):
        for chain, rule in (
            ("CNI-ISOLATION-STAGE-1", ["-i", bridge, "!", "-o", bridge]),
            ("CNI-ISOLATION-STAGE-2", ["-o", bridge]),
        ):
            target = "CNI-ISOLATION-STAGE-2" if chain.endswith("1") else "DROP"
            # Concurrent ADDs onto a new bridge may each have added the rule
            # (the plugin checks, then appends): delete every copy.
            for _ in range(_MAX_COPIES):
                deleted, _ = await _run(
                    tool, "-w", "-t", "filter", "-D", chain, *rule, *comment, "-j", target
                )
                if deleted != 0:
                    break


def masquerade_chain(network: str, container_id: str) -> str:
    """The bridge plugin's per-attachment nat chain name (its FormatChainName)."""
    return ("CNI-" + hashlib.sha512((network + container_id).encode()).hexdigest())[:28]


async def sweep_masquerade(network: str, container_id: str) -> bool:
    """Remove the masquerade chain of an attachment whose namespace is gone.

    Returns whether there was anything to remove.
    """
    chain = masquerade_chain(network, container_id)
    exists, _ = await _run("iptables", "-w", "-t", "nat", "-S", chain)
    if exists != 0:
        return False  # no chain, so no jump to it either: the usual case after a DEL
    code, out = await _run("iptables", "-w", "-t", "nat", "-S", "POSTROUTING")
    if code == 0:
        for line in out.splitlines():
            if line.split()[-2:] == ["-j", chain]:
                await _run("iptables", "-w", "-t", "nat", "-D", *shlex.split(line)[1:])
    await _run("iptables", "-w", "-t", "nat", "-F", chain)
    await _run("iptables", "-w", "-t", "nat", "-X", chain)
    return True
