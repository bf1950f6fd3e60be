"""``InnerNetwork``: a network driver for tests that gives a sandbox an address of its own.

It declares ``Capability.NETNS``, so the engine pins a network namespace for
every sandbox on one of its networks and the runtime must join it; attaching
adds a veth pair with both ends inside that namespace, one carrying an
address from the network's ``subnet`` option (192.0.2.0/24 by default:
TEST-NET-1, never routed). Nothing leaves the namespace (a ``dummy``
interface would do as well, but its kernel module is often missing where
tests run; veth never is), so a test can check what a runtime does with a
sandbox's namespace — and the engine with its hosts file — without a bridge,
a rule or a packet on the host.

Register it in a test's engine with ``add_inner_network(engine)``. Needs root
and ``nsenter``/``ip`` (util-linux, iproute2), as the engine's namespaces do.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from pouch.drivers import Capability, DriverInfo, NetworkAttachment, NetworkDriver, Sandbox
from pouch.errors import InvalidArgument, PouchError
from pouch.markers import hookimpl
from pouch.mounts import is_mountpoint

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.engine import Engine

__all__ = ["INNER_NETWORK_DRIVER", "InnerNetwork", "add_inner_network"]

INNER_NETWORK_DRIVER = "inner"
_DEFAULT_SUBNET = "192.0.2.0/24"


def _subnet(options: dict[str, str]) -> ipaddress.IPv4Network:
    text = options.get("subnet", _DEFAULT_SUBNET)
    try:
        subnet = ipaddress.ip_network(text)
    except ValueError as exc:
        raise InvalidArgument(str(exc), field="subnet") from None
    if not isinstance(subnet, ipaddress.IPv4Network) or subnet.num_addresses < 4:
        raise InvalidArgument(
            f"{text!r} is not an IPv4 subnet of 4 addresses or more", field="subnet"
        )
    return subnet


async def _in_netns(netns: str, *command: str) -> tuple[int, str]:
    done = await anyio.run_process(["nsenter", f"--net={netns}", *command], check=False)
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace").strip()


class InnerNetwork:
    """A veth pair per attachment, named after its network, inside the sandbox's namespace."""

    name = INNER_NETWORK_DRIVER

    def describe(self) -> DriverInfo:
        return DriverInfo(name=self.name, version="test", capabilities=[Capability.NETNS])

    async def create_network(self, name: str, options: dict[str, str]) -> None:
        _subnet(options)
        unknown = sorted(set(options) - {"subnet"})
        if unknown:
            raise InvalidArgument(f"unknown option {unknown[0]!r}", field=unknown[0])

    async def remove_network(self, name: str) -> None:
        return None

    def _interface(self, network: str) -> str:
        return "in" + hashlib.sha256(network.encode()).hexdigest()[:8]

    async def attach(
        self, sandbox: Sandbox, network: str, options: dict[str, str]
    ) -> NetworkAttachment:
        if not sandbox.netns_path:
            raise PouchError(f"network {network}: the sandbox has no network namespace to join")
        subnet = _subnet(options)
        digest = int(hashlib.sha256(f"{sandbox.id}/{network}".encode()).hexdigest(), 16)
        address = f"{subnet[2 + digest % (subnet.num_addresses - 3)]}/{subnet.prefixlen}"
        interface = self._interface(network)
        await _in_netns(sandbox.netns_path, "ip", "link", "delete", interface)  # a retried attach
        for command in (
            ("ip", "link", "add", interface, "type", "veth", "peer", "name", f"{interface}p"),
            ("ip", "link", "set", f"{interface}p", "up"),
            ("ip", "address", "add", address, "dev", interface),
            ("ip", "link", "set", interface, "up"),
        ):
            code, output = await _in_netns(sandbox.netns_path, *command)
            if code != 0:
                await _in_netns(sandbox.netns_path, "ip", "link", "delete", interface)
                raise PouchError(f"network {network}: {' '.join(command)}: {output}")
        return NetworkAttachment(
            network=network, interface=interface, ips=[address], gateway=str(subnet[1])
        )

    async def detach(self, sandbox: Sandbox, attachment: NetworkAttachment) -> None:
        # The pair dies with its namespace: only a live one needs the delete.
        if sandbox.netns_path and is_mountpoint(Path(sandbox.netns_path)):
            await _in_netns(sandbox.netns_path, "ip", "link", "delete", attachment.interface)

    async def gc(self, live_sandboxes: set[str]) -> None:
        return None


class _InnerNetworkPlugin:
    @hookimpl
    def pouch_add_network_drivers(self, config: EngineConfig) -> list[NetworkDriver]:
        return [InnerNetwork()]


def add_inner_network(engine: Engine) -> None:
    """Make the ``inner`` network driver available in ``engine`` (once)."""
    if INNER_NETWORK_DRIVER not in engine.kernel.networks:
        status = engine.register_plugin(_InnerNetworkPlugin(), "pouch-testing-inner-network")
        if status.state != "loaded":
            raise RuntimeError(f"the inner network driver did not load: {status.reason}")
