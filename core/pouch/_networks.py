"""The engine's networks: named, each implemented by a network driver.

``host`` and ``none`` always exist. The default network (``bridge`` unless
configured otherwise) is created on start when a driver of that name is
installed. Creating and removing a network goes to its driver; connecting a
container records the network in its config and, while it runs, attaches it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import TYPE_CHECKING

from pouch._names import validate_name
from pouch.errors import Conflict, InvalidArgument, NoSuchObject
from pouch.models import Container, Network, State

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.events import EventBus
    from pouch.kernel import Kernel
    from pouch.store import ContainerTable, NetworkTable

__all__ = ["BUILTIN_NETWORKS", "NetworkOps", "NoSuchNetwork"]

BUILTIN_NETWORKS = ("host", "none")

log = logging.getLogger(__name__)


class NoSuchNetwork(NoSuchObject):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no such network: {ref}")


def _builtin(name: str) -> Network:
    return Network(
        name=name, id=hashlib.sha256(name.encode()).hexdigest(), driver=name, builtin=True
    )


class NetworkOps:
    config: EngineConfig
    kernel: Kernel
    events: EventBus
    containers: ContainerTable
    networks: NetworkTable

    def network_get(self, ref: str) -> Network:
        """By name, or by a unique ID prefix."""
        if ref in BUILTIN_NETWORKS:
            return _builtin(ref)
        found = self.networks.get(ref)
        if found is not None:
            return found
        matches = self.networks.by_id_prefix(ref) if len(ref) >= 3 else []
        if len(matches) == 1:
            return matches[0]
        if ref in (self.config.default_network, "bridge"):
            raise NoSuchNetwork(
                f"{ref} (the bridge network comes from a network plugin such as pouch-cni; "
                "install one, or choose the network none or host)"
            )
        raise NoSuchNetwork(ref)

    def network_list(self) -> list[Network]:
        return [_builtin(n) for n in BUILTIN_NETWORKS] + self.networks.all()

    async def network_create(
        self,
        name: str,
        *,
        driver: str = "",
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        builtin: bool = False,
    ) -> Network:
        name = validate_name(name)
        if name in BUILTIN_NETWORKS:
            raise Conflict(f"{name} is a pre-defined network and cannot be created")
        if self.networks.get(name) is not None:
            raise Conflict(f"network with name {name} already exists")
        driver_name = driver or self.config.default_network
        if driver_name in BUILTIN_NETWORKS:
            raise InvalidArgument(
                f"only one instance of the {driver_name} network is allowed", field="driver"
            )
        implementation = self.kernel.networks.get(driver_name)
        network = Network(
            name=name,
            id=secrets.token_hex(32),
            driver=driver_name,
            created_at=time.time(),
            options=dict(options or {}),
            labels=dict(labels or {}),
            builtin=builtin,
        )
        await implementation.create_network(name, network.options)
        try:
            self.networks.add(network)
        except BaseException:
            await implementation.remove_network(name)
            raise
        self.events.publish("network", "create", network.id, {"name": name, "type": driver_name})
        return network

    def _users(self, network: Network, *, running_only: bool) -> list[Container]:
        default = self.config.default_network
        return [
            c
            for c in self.containers.all()
            if network.name in (c.config.networks or [default])
            and (not running_only or c.state.status in (State.RUNNING, State.PAUSED))
        ]

    async def network_remove(self, ref: str) -> None:
        network = self.network_get(ref)
        if network.builtin:
            raise Conflict(f"{network.name} is a pre-defined network and cannot be removed")
        users = self._users(network, running_only=True)
        if users:
            raise Conflict(
                f"network {network.name} has active endpoints "
                f"({', '.join(c.name for c in users)}); stop or disconnect them first"
            )
        await self.kernel.networks.get(network.driver).remove_network(network.name)
        self.networks.delete(network.name)
        self.events.publish(
            "network", "destroy", network.id, {"name": network.name, "type": network.driver}
        )

    async def ensure_default_network(self) -> None:
        """Create the configured default network once its driver is installed."""
        name = self.config.default_network
        if name in BUILTIN_NETWORKS or self.networks.get(name) is not None:
            return
        if name in self.kernel.networks:
            try:
                await self.network_create(name, driver=name, builtin=True)
            except Exception as exc:
                # A broken network plugin must not keep the engine from starting;
                # containers on other networks still run.
                log.error("the default network %s could not be created: %s", name, exc)
