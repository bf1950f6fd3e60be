"""The engine's networks: named, each implemented by a network driver.

``host`` and ``none`` always exist. The default network (``bridge`` unless
configured otherwise) is created on start when a driver of that name is
installed; without one, containers that name no network get ``none`` and the
engine says why in its log. Creating and removing a network goes to its
driver; attaching sandboxes to networks is ``Sandboxes``' work.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import secrets
import time
from collections.abc import Sequence

from pouch.config import EngineConfig
from pouch.drivers import Capability, Endpoint, NetworkDriver
from pouch.engine._filters import has_label, prune_selects
from pouch.engine._names import validate_name
from pouch.engine._network_uses import NetworkUses
from pouch.engine._records import Records
from pouch.errors import Conflict, InvalidArgument, NoSuchObject
from pouch.events import EventBus
from pouch.kernel import Kernel
from pouch.models import Container, Network, State
from pouch.store import NetworkTable

__all__ = ["BUILTIN_NETWORKS", "Networks", "NoSuchNetwork"]

BUILTIN_NETWORKS = ("host", "none")

log = logging.getLogger(__name__)


_FILTERS = frozenset({"name", "id", "driver", "type", "label", "dangling"})


class NoSuchNetwork(NoSuchObject):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no such network: {ref}")


def _builtin(name: str) -> Network:
    return Network(
        name=name, id=hashlib.sha256(name.encode()).hexdigest(), driver=name, builtin=True
    )


class Networks:
    """The named networks and the driver behind each."""

    def __init__(
        self,
        config: EngineConfig,
        kernel: Kernel,
        table: NetworkTable,
        records: Records,
        events: EventBus,
    ) -> None:
        self.config = config
        self.kernel = kernel
        self.table = table
        self.records = records
        self.events = events
        # The network of a container that names none: the configured default,
        # or "none" when no driver for it is installed (see ``ensure_default``).
        self.default = config.default_network
        self.uses = NetworkUses()  # attachments in flight, removals

    def driver(self, network: str) -> NetworkDriver:
        """The driver that implements the network named ``network``."""
        return self.kernel.networks.get(self.get(network).driver)

    def check_endpoint(self, network: str, endpoint: Endpoint) -> None:
        """Refuse endpoint settings the network's driver would not honour."""
        capabilities = self.driver(network).describe().capabilities
        if endpoint.aliases and Capability.NAMES not in capabilities:
            raise InvalidArgument(
                f"network {network} resolves no names: aliases need a user-defined network",
                field=f"endpoints.{network}.aliases",
            )
        for field in ("ipv4_address", "ipv6_address", "mac_address"):
            if getattr(endpoint, field) and Capability.STATIC_ADDRESS not in capabilities:
                raise InvalidArgument(
                    f"network {network} (driver {self.get(network).driver}) gives no fixed"
                    " addresses",
                    field=f"endpoints.{network}.{field}",
                )

    def of(self, container: Container) -> list[str]:
        """The networks ``container`` joins."""
        return container.config.networks or [self.default]

    def get(self, ref: str) -> Network:
        """By name, or by a unique ID prefix (``host`` and ``none`` too)."""
        if not ref:
            raise InvalidArgument("network reference is empty", field="network")
        if ref in BUILTIN_NETWORKS:
            return _builtin(ref)
        found = self.table.get(ref)
        if found is not None:
            return found
        matches = self.table.by_id_prefix(ref) if len(ref) >= 3 else []
        if not matches and len(ref) >= 3:
            matches = [n for n in map(_builtin, BUILTIN_NETWORKS) if n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if ref in (self.config.default_network, "bridge"):
            raise NoSuchNetwork(
                f"{ref} (the bridge network comes from a network plugin such as pouch-cni; "
                "install one, or choose the network none or host)"
            )
        raise NoSuchNetwork(ref)

    def list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[Network]:
        """Every network matching docker's filters (name, id, driver, type, label, dangling)."""
        found = [_builtin(n) for n in BUILTIN_NETWORKS] + self.table.all()
        for key in filters or {}:
            if key not in _FILTERS:
                raise InvalidArgument(f"invalid filter {key!r}", field="filters")
        return [n for n in found if self._matches(n, filters or {})]

    def _matches(self, network: Network, filters: dict[str, builtins.list[str]]) -> bool:
        for key, values in filters.items():
            if key == "name":
                found = any(v in network.name for v in values)
            elif key == "id":
                found = any(network.id.startswith(v) for v in values)
            elif key == "driver":
                found = network.driver in values
            elif key == "type":
                found = ("builtin" if network.builtin else "custom") in values
            elif key == "dangling":
                dangling = any(v.lower() in ("1", "true") for v in values)
                found = dangling != bool(self._users(network, running_only=False))
            else:
                found = all(has_label(network.labels, v) for v in values)
            if not found:
                return False
        return True

    async def prune(
        self,
        *,
        until: float | None = None,
        labels: Sequence[str] = (),
        not_labels: Sequence[str] = (),
    ) -> builtins.list[str]:
        """Remove the user-defined networks no container uses, created before ``until``
        and labelled as ``labels`` / ``not_labels`` ask (docker's ``label``, ``label!``);
        their names."""
        deleted = []
        for network in self.table.all():
            if network.builtin or self._users(network, running_only=False):
                continue
            if not prune_selects(
                network.created_at,
                network.labels,
                until=until,
                labels=labels,
                not_labels=not_labels,
            ):
                continue
            try:
                await self.remove(network.name)
            except (Conflict, NoSuchObject):
                continue  # taken or removed meanwhile: prune leaves it
            deleted.append(network.name)
        return deleted

    async def create(
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
        if self.table.get(name) is not None:
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
            self.table.add(network)
        except BaseException:
            await implementation.remove_network(name)
            raise
        self.events.publish("network", "create", network.id, {"name": name, "type": driver_name})
        return network

    def _users(self, network: Network, *, running_only: bool) -> builtins.list[Container]:
        return [
            c
            for c in self.records.all()
            if network.name in self.of(c)
            and (not running_only or c.state.status in (State.RUNNING, State.PAUSED))
        ]

    async def remove(self, ref: str) -> None:
        network = self.get(ref)
        if network.builtin:
            raise Conflict(f"{network.name} is a pre-defined network and cannot be removed")
        async with self.uses.removing(network.name):
            users = self._users(network, running_only=True)
            if users:
                raise Conflict(
                    f"network {network.name} has active endpoints "
                    f"({', '.join(c.name for c in users)}); stop or disconnect them first"
                )
            await self.kernel.networks.get(network.driver).remove_network(network.name)
            self.table.delete(network.name)
        self.events.publish(
            "network", "destroy", network.id, {"name": network.name, "type": network.driver}
        )

    async def ensure_default(self) -> None:
        """Create the configured default network once its driver is installed.

        Without such a driver containers that name no network get ``none``, and
        the log says so once, with what to install.
        """
        name = self.config.default_network
        if name in BUILTIN_NETWORKS or self.table.get(name) is not None:
            return
        if name not in self.kernel.networks:
            self.default = "none"
            log.warning(
                "no network driver %r is installed, so containers that name no network "
                "get the network none; install a network plugin (such as pouch-cni) "
                "for the %s network",
                name,
                name,
            )
            return
        try:
            await self.create(name, driver=name, builtin=True)
        except Exception as exc:
            # A broken network plugin must not keep the engine from starting;
            # containers on other networks still run.
            log.error("the default network %s could not be created: %s", name, exc)
