"""``NetworkDriverConformance``: the class a network plugin subclasses, and what its tests share.

The class names the driver under test and how to make networks with it; its
tests live in ``_network_driver_tests`` (the driver object itself) and
``_network_engine_tests`` (containers through the Engine). Containers run on
the runtime ``preferred_runtime()`` picks (runc where this host can run it);
the tests that need containers skip where that runtime has no namespaces.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import anyio
import pytest

from pouch.drivers import Capability, NetworkDriver, Sandbox
from pouch.netns import create_netns, remove_netns
from pouch.testing import _network_driver_tests, _network_engine_tests
from pouch.testing._suite import SuiteBase, driver_unavailable, with_tests
from pouch.testing.daemon import preferred_runtime
from pouch.testing.plugin import remove_all_containers

if TYPE_CHECKING:
    from pouch.engine import Engine
    from pouch.models import Container

__all__ = ["NetworkDriverConformance", "NetworkFactory"]

#: ``await make()`` gives the name of a network of the driver under test.
NetworkFactory = Callable[[], Awaitable[str]]


@with_tests(_network_driver_tests, _network_engine_tests)
class NetworkDriverConformance(SuiteBase):
    """Subclass it as ``Test<Driver>`` and set ``driver`` to the network driver's name."""

    #: the network driver under test.
    driver: ClassVar[str] = ""
    #: the one network of a driver that creates none (the built-in ``host``
    #: and ``none``); empty: each test creates the networks it needs.
    network: ClassVar[str] = ""
    #: an option and a value ``create_network`` must refuse, with
    #: ``InvalidArgument`` naming ``bad_option_field`` (the option itself when empty).
    bad_option: ClassVar[tuple[str, str]] = ("subnet", "not-a-subnet")
    bad_option_field: ClassVar[str] = ""
    runtime: ClassVar[str] = preferred_runtime()[0]

    # -- what a plugin may override ------------------------------------------------

    def network_options(self, index: int) -> dict[str, str]:
        """Options of the ``index``-th network a test makes (each test starts at 0).

        Networks a test makes at once must not collide: give each its own subnet.
        """
        return {}

    async def leftovers(self, engine: Engine) -> list[str]:
        """What the driver left on the host once no sandbox is attached (veths, leases …).

        Called while the test's networks still exist; each entry names one thing.
        """
        return []

    # -- the driver and its networks ----------------------------------------------

    def network_driver(self, engine: Engine) -> NetworkDriver:
        reason = driver_unavailable(engine, "network", self.driver)
        if reason is not None:
            pytest.skip(reason)
        return engine.kernel.networks.get(self.driver)

    def declares(self, engine: Engine, capability: Capability) -> bool:
        return capability in self.network_driver(engine).describe().capabilities

    def require_driver(self, engine: Engine, *capabilities: Capability) -> None:
        for capability in capabilities:
            if not self.declares(engine, capability):
                pytest.skip(f"network driver {self.driver} does not declare {capability.value!r}")

    def require_containers(self, engine: Engine) -> None:
        """Skip unless the runtime can run containers with namespaces and exec."""
        self.network_driver(engine)
        self.require(engine, Capability.NAMESPACES, Capability.EXEC)

    @pytest.fixture
    async def networks(self, engine: Engine) -> AsyncIterator[NetworkFactory]:
        """Networks of the driver made through the engine; removed after the containers."""
        made: list[str] = []

        async def make() -> str:
            self.network_driver(engine)
            if self.network:
                return self.network
            name = "kit-" + secrets.token_hex(3)
            options = self.network_options(len(made))
            await engine.networks.create(name, driver=self.driver, options=options)
            made.append(name)
            return name

        yield make
        with anyio.CancelScope(shield=True):
            problems = await remove_all_containers(engine)
            for name in made:
                try:
                    await engine.networks.remove(name)
                except Exception as exc:
                    problems.append(f"removing network {name}: {exc!r}")
        assert not problems, problems

    @contextlib.asynccontextmanager
    async def driver_network(
        self, driver: NetworkDriver, index: int = 0
    ) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """A network made on the driver object itself, and its options; removed at the end."""
        if self.network:
            yield self.network, {}
            return
        name, options = "kit-" + secrets.token_hex(3), self.network_options(index)
        await driver.create_network(name, options)
        try:
            yield name, options
        finally:
            with anyio.CancelScope(shield=True):
                await driver.remove_network(name)

    @contextlib.asynccontextmanager
    async def sandbox(self, engine: Engine, tmp_path: Path) -> AsyncIterator[Sandbox]:
        """A sandbox with a pinned namespace where the driver configures one; released after."""
        sandbox_id = secrets.token_hex(32)
        hosts = tmp_path / f"hosts-{sandbox_id[:12]}"
        hosts.write_text("127.0.0.1\tlocalhost\n")
        netns = engine.config.run_root / "netns" / sandbox_id
        pinned = self.declares(engine, Capability.NETNS)
        try:
            yield Sandbox(
                id=sandbox_id,
                name="kit-" + sandbox_id[:6],
                hostname=sandbox_id[:12],
                netns_path=str(await create_netns(netns)) if pinned else "",
                hosts_path=str(hosts),
            )
        finally:
            with anyio.CancelScope(shield=True):
                await remove_netns(netns)

    # -- containers -------------------------------------------------------------------

    async def sh(self, engine: Engine, container: Container, script: str) -> tuple[int, str]:
        with anyio.fail_after(30):
            code, out, err = await engine.exec_run(container.id, ["sh", "-c", script])
        return code, (out + err).decode(errors="replace")
