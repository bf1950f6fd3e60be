"""The ``host`` and ``none`` networks, which need no plugin binaries.

``none`` gives the container a network namespace of its own with only
loopback; ``host`` shares the host's. Networks with addresses (``bridge`` and
user-defined ones) come from a network plugin such as pouch-cni.
"""

from __future__ import annotations

from pouch.config import EngineConfig
from pouch.drivers import DriverInfo, NetworkAttachment, NetworkDriver, Sandbox
from pouch.errors import InvalidArgument
from pouch.markers import hookimpl

__all__ = ["NullNetwork"]


class NullNetwork:
    """Attaches nothing: the namespace choice itself is the whole network."""

    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self) -> DriverInfo:
        return DriverInfo(name=self.name, version="builtin", capabilities=[])

    async def create_network(self, name: str, options: dict[str, str]) -> None:
        raise InvalidArgument(
            f"the {self.name!r} driver does not create networks; use a network plugin's "
            "driver (for example bridge from pouch-cni)",
            field="driver",
        )

    async def remove_network(self, name: str) -> None:
        raise InvalidArgument(f"{name!r} is a built-in network and cannot be removed")

    async def attach(
        self, sandbox: Sandbox, network: str, options: dict[str, str]
    ) -> NetworkAttachment:
        return NetworkAttachment(network=network)

    async def detach(self, sandbox: Sandbox, attachment: NetworkAttachment) -> None:
        return None

    async def gc(self, live_sandboxes: set[str]) -> None:
        return None


@hookimpl
def pouch_add_network_drivers(config: EngineConfig) -> list[NetworkDriver]:
    return [NullNetwork("host"), NullNetwork("none")]
