"""Container networking as a user sees it, with runc and the real CNI plugins.

Every test makes its own networks (10.231.N.0/24, bridges named pouch-…),
talks only to 127.0.0.1 and addresses inside them, and ``host_guard`` fails
it if a link, rule, namespace, cache entry or IP reservation is left.
"""

from __future__ import annotations

import secrets
import socket
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import msgspec
import pytest
from pouch_cni import BridgeDriver, CNIError

from pouch import ContainerConfig
from pouch.drivers import Sandbox
from pouch.engine import Engine
from pouch.errors import Conflict
from pouch.models import Container, Network, State
from pouch.testing import EngineFactory, import_busybox

NetworkFactory = Callable[..., Awaitable[Network]]

# Real containers: these need the runc runtime, which pouch-cni does not bring
# (installed alone beside the core, the plugin's other tests still run).
pytest.importorskip("pouch_runc", reason="the container tests need pouch-runc installed")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.root,
    pytest.mark.binary("runc", "conmon", "iptables"),
    pytest.mark.usefixtures("host_guard"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cfg(**options: object) -> ContainerConfig:
    options.setdefault("image", "busybox")
    return msgspec.convert(options, ContainerConfig)


async def run(engine: Engine, name: str = "", **options: object) -> Container:
    options.setdefault("cmd", ["sleep", "120"])
    container = await engine.create(cfg(**options), name=name or None)
    await engine.start(container.id)
    return engine.inspect(container.id)


async def sh(engine: Engine, container: Container, script: str) -> tuple[int, str]:
    with anyio.fail_after(30):
        code, out, err = await engine.exec_run(container.id, ["sh", "-c", script])
    return code, (out + err).decode()


def address(container: Container, network: str) -> str:
    attachment = next(a for a in container.attachments if a.network == network)
    return attachment.ips[0].split("/")[0]


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as answer:
        body: bytes = answer.read()
        return body


async def fetch(url: str) -> bytes:
    with anyio.fail_after(15):
        while True:
            try:
                return await anyio.to_thread.run_sync(http_get, url)
            except OSError:
                await anyio.sleep(0.1)


async def test_published_ports_answer_from_the_host(
    engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    net = await networks(subnet="10.231.1.0/24")
    local, anywhere = free_port(), free_port()
    page = "mkdir -p /www && echo hello-from-pouch > /www/index.html && exec httpd -f -p 80 -h /www"
    web = await run(
        engine,
        "web",
        cmd=["sh", "-c", page],
        networks=[net.name],
        ports=[
            {"container_port": 80, "host_port": local, "host_ip": "127.0.0.1"},
            {"container_port": 80, "host_port": anywhere},  # 0.0.0.0, so 127.0.0.1 too
        ],
    )
    assert await fetch(f"http://127.0.0.1:{local}/") == b"hello-from-pouch\n"
    assert await fetch(f"http://127.0.0.1:{anywhere}/") == b"hello-from-pouch\n"
    assert [p.host_port for p in web.attachments[0].ports] == [local, anywhere]
    with pytest.raises(Conflict, match=f"{local}/tcp is already published by web"):
        await run(
            engine,
            networks=[net.name],
            ports=[{"container_port": 80, "host_port": local, "host_ip": "127.0.0.1"}],
        )


async def test_names_and_addresses_on_a_network_and_isolation_between_networks(
    engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    red, blue = await networks(subnet="10.231.2.0/24"), await networks(subnet="10.231.3.0/24")
    alpha = await run(engine, "alpha", networks=[red.name])
    beta = await run(engine, "beta", networks=[red.name])
    gamma = await run(engine, "gamma", networks=[blue.name])
    assert address(alpha, red.name).startswith("10.231.2.")
    assert (await sh(engine, beta, f"ping -c1 -W2 {address(alpha, red.name)}"))[0] == 0
    assert (await sh(engine, beta, "ping -c1 -W2 alpha"))[0] == 0
    assert (await sh(engine, alpha, "ping -c1 -W2 beta"))[0] == 0
    # Another network: neither the address nor the name is reachable.
    assert (await sh(engine, gamma, f"ping -c1 -W2 {address(alpha, red.name)}"))[0] != 0
    assert (await sh(engine, alpha, f"ping -c1 -W2 {address(gamma, blue.name)}"))[0] != 0
    code, out = await sh(engine, gamma, "ping -c1 -W2 alpha")
    assert code != 0, out
    # A member joining later is named in the running members' hosts files, and
    # leaves them when it goes.
    delta = await run(engine, "delta", networks=[red.name])
    assert (await sh(engine, alpha, "ping -c1 -W2 delta"))[0] == 0
    assert "beta" in (await sh(engine, delta, "cat /etc/hosts"))[1]
    await engine.remove(delta.id, force=True)
    assert "delta" not in (await sh(engine, alpha, "cat /etc/hosts"))[1]


async def test_network_rm_refuses_while_in_use(
    engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    net = await networks(subnet="10.231.4.0/24")
    user = await run(engine, "busy", networks=[net.name])
    with pytest.raises(Conflict, match="busy"):
        await engine.networks.remove(net.name)
    driver = engine.kernel.networks.get("bridge")
    with pytest.raises(Conflict, match="in use by busy"):
        await driver.remove_network(net.name)
    await engine.stop(user.id, timeout=0)
    assert engine.inspect(user.id).state.status == State.EXITED
    assert engine.inspect(user.id).attachments == []


async def test_connect_and_disconnect_a_running_container(
    engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    first, second = await networks(subnet="10.231.5.0/24"), await networks(subnet="10.231.6.0/24")
    container = await run(engine, networks=[first.name])
    assert (await sh(engine, container, "ls /sys/class/net"))[1].split() == ["eth0", "lo"]
    await engine.network_connect(second.name, container.id)
    code, out = await sh(engine, container, "ip -o -4 addr show eth1")
    assert code == 0 and "10.231.6." in out, out
    assert [a.interface for a in engine.inspect(container.id).attachments] == ["eth0", "eth1"]
    await engine.network_disconnect(second.name, container.id)
    assert (await sh(engine, container, "ls /sys/class/net"))[1].split() == ["eth0", "lo"]
    assert [a.network for a in engine.inspect(container.id).attachments] == [first.name]


async def test_check_finds_a_broken_attachment_and_status_says_what_is_supported(
    engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    net = await networks(subnet="10.231.7.0/24")
    container = await run(engine, networks=[net.name])
    driver = engine.kernel.networks.get("bridge")
    assert isinstance(driver, BridgeDriver)
    sandbox = Sandbox(id=container.id, netns_path=container.netns_path)
    await driver.check(sandbox, container.attachments[0])
    await anyio.run_process(
        ["nsenter", f"--net={container.netns_path}", "ip", "addr", "flush", "dev", "eth0"]
    )
    with pytest.raises(CNIError) as failed:
        await driver.check(sandbox, container.attachments[0])
    assert failed.value.command == "CHECK" and failed.value.plugin == "bridge"
    status = await driver.status(net.name)
    assert set(status) == {"bridge", "portmap", "firewall"}


@pytest.mark.slow
async def test_a_hundred_runs_leave_nothing_behind(
    engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    net = await networks(subnet="10.231.8.0/24")
    port = free_port()
    for _ in range(100):
        published = [{"container_port": 80, "host_port": port}]
        container = await engine.create(cfg(cmd=["true"], networks=[net.name], ports=published))
        await engine.start(container.id)
        assert await engine.wait(container.id) == 0
        await engine.remove(container.id)
    # host_guard checks veths, reservations, namespaces and rules at teardown;
    # the bridge itself goes with the network.


async def test_an_auto_removed_runs_port_and_address_are_free_when_it_is_gone(
    engine: Engine, busybox: str, networks: NetworkFactory
) -> None:
    """The network of an exited container is released in the background; a
    start that asks for the same host port and fixed address right after
    ``run --rm`` returned waits for that release instead of failing."""
    net = await networks(subnet="10.231.22.0/24")
    port = free_port()
    for _ in range(3):
        container = await engine.create(
            cfg(
                cmd=["true"],
                networks=[net.name],
                ports=[{"container_port": 80, "host_port": port}],
                endpoints={net.name: {"ipv4_address": "10.231.22.50"}},
                auto_remove=True,
            )
        )
        await engine.start(container.id)
        with anyio.fail_after(30):
            assert await engine.wait(container.id, condition="removed") == 0


async def test_rm_of_an_exited_container_returns_with_its_network_released(
    engine: Engine,
    busybox: str,
    networks: NetworkFactory,
    container_leftovers: Callable[[], dict[str, list[str]]],
) -> None:
    net = await networks(subnet="10.231.23.0/24")
    container = await run(engine, cmd=["true"], networks=[net.name])
    with anyio.fail_after(30):
        assert await engine.wait(container.id) == 0
    await engine.remove(container.id)
    assert container_leftovers() == {}


async def test_an_engine_restarted_while_containers_run_releases_their_networks(
    engine_factory: EngineFactory, busybox_rootfs: Path
) -> None:
    name = "pt" + secrets.token_hex(3)
    async with engine_factory() as first:
        await import_busybox(first, busybox_rootfs)
        options = {"subnet": "10.231.21.0/24", "bridge": name}
        await first.networks.create(name, driver="bridge", options=options)
        published = [{"container_port": 80, "host_port": free_port()}]
        container = await run(first, networks=[name], ports=published)
    async with engine_factory() as second:
        found = second.inspect(container.id)
        assert found.state.status == State.RUNNING
        assert found.attachments == container.attachments
        # The DEL runs from the cache an earlier engine process wrote.
        await second.remove(container.id, force=True)
        await second.networks.remove(name)
