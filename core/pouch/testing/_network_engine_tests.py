"""Conformance tests of a network driver through the Engine: networks and containers on them.

Networks are created and removed with ``engine.networks.create``/``remove``;
containers join them with ``ContainerConfig.networks``. Each capability the
driver declares is checked for what a user would notice: ``NETNS`` an
interface with the attachment's address in the container's own namespace,
``PORTS`` a published port answering on 127.0.0.1, ``NAMES`` peers resolving
each other by name, ``ISOLATION`` no reaching across networks. After removal
no namespace, and nothing the driver reports in ``leftovers``, remains.
Traffic goes only to 127.0.0.1 and to addresses inside the test's namespaces.

Bound into ``NetworkDriverConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import os
import secrets
import socket
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from pouch.drivers import Capability, PortMapping
from pouch.errors import Conflict, InvalidArgument, NoSuchObject
from pouch.testing._suite import LONG

if TYPE_CHECKING:
    from pouch.engine import Engine
    from pouch.models import Container
    from pouch.testing._network_suite import NetworkDriverConformance, NetworkFactory

__all__: list[str] = []

_PAGE = "kit-page"
_HTTPD = f"mkdir -p /www && echo {_PAGE} > /www/index.html && exec httpd -f -p 80 -h /www"


def _address(container: Container, network: str) -> str:
    attachment = next(a for a in container.attachments if a.network == network)
    assert attachment.ips, f"no address on {network}: {attachment}"
    return attachment.ips[0].split("/")[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as answer:
        body: bytes = answer.read()
        return body


async def test_networks_through_the_engine(self: NetworkDriverConformance, engine: Engine) -> None:
    self.network_driver(engine)
    name = "kit-" + secrets.token_hex(3)

    def listed() -> set[str]:
        return {n.name for n in engine.networks.list()}

    with anyio.fail_after(self.timeout):
        if self.network:
            assert engine.networks.get(self.network).driver == self.driver
            with pytest.raises(InvalidArgument):
                await engine.networks.create(name, driver=self.driver)
            with pytest.raises(Conflict):
                await engine.networks.remove(self.network)
            assert name not in listed() and self.network in listed()
            return
        option, value = self.bad_option
        bad = {**self.network_options(0), option: value}
        with pytest.raises(InvalidArgument) as refused:
            await engine.networks.create(name, driver=self.driver, options=bad)
        assert refused.value.field == (self.bad_option_field or option), refused.value
        assert name not in listed()

        network = await engine.networks.create(
            name, driver=self.driver, options=self.network_options(0)
        )
        try:
            assert (network.name, network.driver) == (name, self.driver)
            assert name in listed()
            with pytest.raises(Conflict):
                await engine.networks.create(name, driver=self.driver)
        finally:
            await engine.networks.remove(name)
        assert name not in listed()
        with pytest.raises(NoSuchObject):
            await engine.networks.remove(name)


async def test_a_container_gets_the_attachments_address_in_its_own_namespace(
    self: NetworkDriverConformance, engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    self.require_driver(engine, Capability.NETNS)
    self.require_containers(engine)
    with anyio.fail_after(self.timeout):
        network = await networks()
        container = await self.run(engine, busybox, LONG, networks=[network])
        attachment = next(a for a in container.attachments if a.network == network)
        assert attachment.interface and attachment.ips, attachment
        code, out = await self.sh(
            engine,
            container,
            f"readlink /proc/self/ns/net; ip -o address show {attachment.interface}",
        )
        assert code == 0, out
        namespace, *lines = out.splitlines()
        assert namespace != os.readlink("/proc/self/ns/net"), "the host's namespace"
        assert namespace == f"net:[{os.stat(container.netns_path).st_ino}]"
        shown = {line.split()[3] for line in lines}
        assert set(attachment.ips) <= shown, f"{attachment.ips} not among {shown}"


async def test_a_published_port_answers_on_loopback(
    self: NetworkDriverConformance, engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    self.require_driver(engine, Capability.PORTS)
    self.require_containers(engine)
    port = _free_port()
    with anyio.fail_after(self.timeout):
        network = await networks()
        published = PortMapping(container_port=80, host_port=port, host_ip="127.0.0.1")
        web = await self.run(
            engine, busybox, ["sh", "-c", _HTTPD], networks=[network], ports=[published]
        )
        assert [p.host_port for a in web.attachments for p in a.ports] == [port]
        while True:
            try:
                body = await anyio.to_thread.run_sync(_get, f"http://127.0.0.1:{port}/")
                break
            except OSError:
                await anyio.sleep(0.1)
        assert body == f"{_PAGE}\n".encode()


async def test_peers_on_one_network_resolve_each_other_by_name(
    self: NetworkDriverConformance, engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    self.require_driver(engine, Capability.NAMES)
    self.require_containers(engine)
    suffix = secrets.token_hex(3)
    with anyio.fail_after(self.timeout):
        network = await networks()
        alpha = await self.run(engine, busybox, LONG, networks=[network], name=f"alpha-{suffix}")
        beta = await self.run(engine, busybox, LONG, networks=[network], name=f"beta-{suffix}")
        for one, other in ((alpha, beta), (beta, alpha)):
            code, out = await self.sh(engine, one, f"ping -c1 -W2 {other.name}")
            assert code == 0, f"{one.name} cannot reach {other.name} by name: {out}"
            assert _address(other, network) in out, out


async def test_networks_are_isolated_from_each_other(
    self: NetworkDriverConformance, engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    self.require_driver(engine, Capability.ISOLATION)
    self.require_containers(engine)
    with anyio.fail_after(self.timeout):
        red, blue = await networks(), await networks()
        alpha = await self.run(engine, busybox, LONG, networks=[red])
        beta = await self.run(engine, busybox, LONG, networks=[red])
        gamma = await self.run(engine, busybox, LONG, networks=[blue])
        # On one network they reach each other: the refusals below mean something.
        code, out = await self.sh(engine, beta, f"ping -c1 -W2 {_address(alpha, red)}")
        assert code == 0, out
        code, out = await self.sh(engine, gamma, f"ping -c1 -W2 {_address(alpha, red)}")
        assert code != 0, f"reached across networks: {out}"
        code, out = await self.sh(engine, alpha, f"ping -c1 -W2 {_address(gamma, blue)}")
        assert code != 0, f"reached across networks: {out}"


async def test_nothing_is_left_after_removal(
    self: NetworkDriverConformance, engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    self.require_containers(engine)
    ports = (
        [PortMapping(container_port=80, host_port=_free_port(), host_ip="127.0.0.1")]
        if self.declares(engine, Capability.PORTS)
        else []
    )
    with anyio.fail_after(self.timeout):
        network = await networks()
        container = await self.run(engine, busybox, LONG, networks=[network], ports=ports)
        netns = container.netns_path
        if self.declares(engine, Capability.NETNS):
            assert netns and Path(netns).exists(), "NETNS declared, yet no namespace pinned"
        await engine.remove(container.id, force=True)
        assert not (netns and Path(netns).exists()), f"{netns} outlived its container"
        assert list((engine.config.run_root / "netns").glob("*")) == []
        assert await self.leftovers(engine) == []
