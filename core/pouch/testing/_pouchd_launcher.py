"""``pouchd`` with the test plugins registered — for tests only.

``python -m pouch.testing._pouchd_launcher ARGS`` runs exactly the program
``pouchd ARGS`` runs (``pouch.daemon.main.main``), plus the plugins
``pouch.testing.plugin`` gives engines in tests: the ``ProcessRuntimePlugin``
and ``FakeNetwork``, a network driver named ``fake`` that hands out
addresses and touches nothing, so the network endpoints can be tested without
root or a network plugin. Neither isolates anything, so they are never
reachable from ``pouchd`` itself: this module is the only way in, and only
``pouch.testing.daemon`` starts it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import sys
from collections.abc import Sequence

from pouch.config import EngineConfig
from pouch.daemon.main import main
from pouch.drivers import DriverInfo, NetworkAttachment, NetworkDriver, Sandbox
from pouch.errors import InvalidArgument
from pouch.markers import hookimpl

__all__ = ["FAKE_NETWORK_DRIVER", "FakeNetwork", "launcher_plugins"]

FAKE_NETWORK_DRIVER = "fake"
_DEFAULT_SUBNET = "10.251.0.0/24"


def _subnet(options: dict[str, str]) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(options.get("subnet", _DEFAULT_SUBNET))
    except ValueError as exc:
        raise InvalidArgument(str(exc), field="subnet") from None


class FakeNetwork:
    """Addresses derived from the sandbox and network names; no interface is made.

    Stateless, so it serves networks created before a daemon restart alike.
    """

    name = FAKE_NETWORK_DRIVER

    def describe(self) -> DriverInfo:
        return DriverInfo(name=self.name, version="test")

    async def create_network(self, name: str, options: dict[str, str]) -> None:
        _subnet(options)

    async def remove_network(self, name: str) -> None:
        return None

    async def attach(
        self, sandbox: Sandbox, network: str, options: dict[str, str]
    ) -> NetworkAttachment:
        subnet = _subnet(options)
        digest = int(hashlib.sha256(f"{sandbox.id}/{network}".encode()).hexdigest(), 16)
        host = subnet[2 + digest % max(1, subnet.num_addresses - 4)]
        return NetworkAttachment(
            network=network,
            interface=f"fake{digest % 1000}",
            ips=[f"{host}/{subnet.prefixlen}"],
            gateway=options.get("gateway", str(subnet[1])),
            mac="02:42:" + ":".join(f"{(digest >> (8 * i)) & 0xFF:02x}" for i in range(4)),
        )

    async def detach(self, sandbox: Sandbox, attachment: NetworkAttachment) -> None:
        return None

    async def gc(self, live_sandboxes: set[str]) -> None:
        return None


class _FakeNetworkPlugin:
    @hookimpl
    def pouch_add_network_drivers(self, config: EngineConfig) -> list[NetworkDriver]:
        return [FakeNetwork()]


def launcher_plugins(config: EngineConfig) -> Sequence[tuple[str, object]]:
    from pouch.testing.process_runtime import ProcessRuntimePlugin

    return [("process", ProcessRuntimePlugin(config)), ("fake-network", _FakeNetworkPlugin())]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], extra_plugins=launcher_plugins))
