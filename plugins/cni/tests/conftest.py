"""Fixtures for the CNI tests: real runc containers, networks made and removed per test,
and a guard that finds — and then removes — anything a test left on the host.

``host_guard`` snapshots the host's links, iptables rules (nat and filter) and
pinned namespaces before the test and compares after every other fixture has
torn down. Rules and chains the plugins share between all networks and never
remove (``CNI-HOSTPORT-DNAT``, ``CNI-FORWARD``, the isolation chains' RETURN …)
are not leaks. Whatever else is new is deleted, and the test fails naming it.
"""

from __future__ import annotations

import re
import secrets
import shlex
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.models import Network
from pouch.testing import remove_all_containers

NetworkFactory = Callable[..., Awaitable[Network]]

SHARED_CHAINS = {
    "filter": {"CNI-ADMIN", "CNI-FORWARD", "CNI-ISOLATION-STAGE-1", "CNI-ISOLATION-STAGE-2"},
    "nat": {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"},
}
_ISOLATION = '-m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)"'
SHARED_RULES = {
    "filter": {
        f"-A FORWARD {_ISOLATION} -j CNI-ISOLATION-STAGE-1",
        '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
        '-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN',
        f"-A CNI-ISOLATION-STAGE-1 {_ISOLATION} -j RETURN",
        f"-A CNI-ISOLATION-STAGE-2 {_ISOLATION} -j RETURN",
    },
    "nat": {
        "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
        "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
        '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" '
        "-j CNI-HOSTPORT-MASQ",
        "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
        '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" '
        "-j MARK --set-xmark 0x2000/0x2000",
    },
}


# What the tests make is recognisable: networks and bridges are named ptXXXXXX
# (6 hex digits) and subnets lie in 10.231.0.0/16. Other engines may be busy on
# the same host; only what matches is ours.
OURS = re.compile(r"10\.231\.|\bpt[0-9a-f]{6}\b")
BRIDGE = re.compile(r"pt[0-9a-f]{6}")


def unique_name() -> str:
    return "pt" + secrets.token_hex(3)


def links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


def bridge_ports(bridge: str) -> list[str]:
    ports = Path("/sys/class/net") / bridge / "brif"
    return sorted(p.name for p in ports.iterdir()) if ports.is_dir() else []


def rules(table: str) -> set[str]:
    for _ in range(10):  # other programs changing rules at the moment may make it fail
        done = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True)
        if done.returncode == 0:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"iptables-save -t {table}: {done.stderr.strip()}")
    out = done.stdout
    found = set()
    for line in out.splitlines():
        if line.startswith(":"):
            found.add(line.split()[0])  # ":CHAIN" without policy and counters
        elif line.startswith("-A"):
            found.add(line)
    return found


def our_rules(table: str, before: set[str]) -> list[str]:
    """New rules that are ours: they name our subnets or bridges, or jump to a chain
    holding such rules; and the chains themselves."""
    current = rules(table)
    new = current - before - SHARED_RULES[table]
    chains = {r.split()[1] for r in current if r.startswith("-A") and OURS.search(r)}
    chains -= SHARED_CHAINS[table] | {"FORWARD", "POSTROUTING", "PREROUTING", "OUTPUT"}
    mine = [
        r
        for r in new
        if r.startswith("-A")
        and (OURS.search(r) or r.split()[1] in chains or r.split()[-1] in chains)
    ]
    mine += [r for r in new if r.startswith(":") and r[1:] in chains]
    return sorted(mine)


def netns_files(run_root: Path) -> set[str]:
    return {str(p) for p in (run_root / "netns").glob("*")}


@dataclass
class HostState:
    run_root: Path
    state_root: Path
    links: set[str] = field(default_factory=links)
    nat: set[str] = field(default_factory=lambda: rules("nat"))
    filter: set[str] = field(default_factory=lambda: rules("filter"))
    netns: set[str] = field(default_factory=set)

    def leftovers(self) -> dict[str, list[str]]:
        """What appeared since the snapshot and is ours, shared CNI plumbing aside."""
        current = links()
        found: dict[str, list[str]] = {}
        found["links"] = sorted(n for n in current - self.links if BRIDGE.fullmatch(n))
        found["ports"] = [
            f"{port} on {bridge}"
            for bridge in sorted(current)
            if BRIDGE.fullmatch(bridge)
            for port in bridge_ports(bridge)
        ]
        found["nat"] = our_rules("nat", self.nat)
        found["filter"] = our_rules("filter", self.filter)
        found["netns"] = sorted(netns_files(self.run_root) - self.netns)
        cni = self.state_root / "cni"
        found["cache"] = sorted(str(p) for p in (cni / "cache").glob("*"))
        found["reservations"] = sorted(
            str(p) for p in (cni / "networks").glob("*/*") if re.match(r"[0-9a-f.:]+$", p.name)
        )
        return {k: v for k, v in found.items() if v}


def clean(leftovers: dict[str, list[str]]) -> None:
    """Remove what a failed test left: rules first, then chains, links and mounts."""
    for table in ("nat", "filter"):
        lines = leftovers.get(table, [])
        for line in [x for x in lines if x.startswith("-A")]:
            subprocess.run(["iptables", "-w", "-t", table, "-D", *shlex.split(line)[1:]])
        for chain in [x[1:] for x in lines if x.startswith(":")]:
            subprocess.run(["iptables", "-w", "-t", table, "-F", chain])
            subprocess.run(["iptables", "-w", "-t", table, "-X", chain])
    for port in leftovers.get("ports", []):
        subprocess.run(["ip", "link", "delete", port.split()[0]], capture_output=True)
    for name in leftovers.get("links", []):
        subprocess.run(["ip", "link", "delete", name], capture_output=True)
    for path in leftovers.get("netns", []):
        subprocess.run(["umount", "-l", path], capture_output=True)
        Path(path).unlink(missing_ok=True)


@pytest.fixture
def pouch_runtime() -> str:
    return "runc"


@pytest.fixture
def host_guard(pouch_config: EngineConfig) -> Iterator[HostState]:
    """Fails the test, after removing them, if links, rules or namespaces are left.

    Requested by every test that touches the host, before any other fixture,
    so that it is torn down last.
    """
    state = HostState(pouch_config.run_root, pouch_config.root)
    state.netns = netns_files(pouch_config.run_root)
    yield state
    found = state.leftovers()
    if found:
        clean(found)
        pytest.fail(f"left on the host: {found}")


@pytest.fixture
async def networks(
    host_guard: HostState, engine: Engine, anyio_backend: str
) -> AsyncIterator[NetworkFactory]:
    """``await networks(subnet="10.231.N.0/24")`` creates a network removed at teardown."""
    made: list[str] = []

    async def create(**options: str) -> Network:
        name = unique_name()
        options = {"bridge": name, **options}
        network = await engine.networks.create(name, driver="bridge", options=options)
        made.append(name)
        return network

    yield create
    await remove_all_containers(engine)
    # A veth left on a bridge would lose its bridge with the network: look now.
    ports = host_guard.leftovers().get("ports", [])
    for name in made:
        await engine.networks.remove(name)
    assert not ports, f"veths left on the networks' bridges: {ports}"


@pytest.fixture
def container_leftovers(host_guard: HostState) -> Callable[[], dict[str, list[str]]]:
    """What containers left so far: the networks' bridges and their isolation rules aside."""

    def find() -> dict[str, list[str]]:
        found = host_guard.leftovers()
        found.pop("links", None)  # the networks' bridges
        found["filter"] = [r for r in found.get("filter", []) if "CNI-ISOLATION" not in r]
        return {k: v for k, v in found.items() if v}

    return find
