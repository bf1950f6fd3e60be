"""An lxc container on a CNI network: an address, a published port the host reaches.

Needs the pouch-cni plugin's ``bridge`` driver; skipped, saying so, where it is
not installed (this plugin's own package does not depend on it). The network
is made for the test (10.239.N.0/24, a bridge named plXXXXXX) and removed
after, with every container on it.
"""

from __future__ import annotations

import secrets
import socket
import urllib.request
from collections.abc import AsyncIterator

import anyio
import msgspec
import pytest

from pouch import ContainerConfig
from pouch.engine import Engine
from pouch.models import Network
from pouch.testing import remove_all_containers

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.root,
    pytest.mark.binary("lxc-start", "lxc-attach", "iptables"),
]


@pytest.fixture
def pouch_runtime() -> str:
    return "lxc"


@pytest.fixture
async def network(engine: Engine, anyio_backend: str) -> AsyncIterator[Network]:
    if "bridge" not in engine.kernel.networks:
        status = {p.name: p for p in engine.plugins()}.get("cni")
        why = f"plugin cni {status.state}: {status.reason}" if status else "pouch-cni not installed"
        pytest.skip(f"needs the CNI bridge network driver ({why})")
    name = "pl" + secrets.token_hex(3)
    subnet = f"10.239.{secrets.randbelow(250) + 1}.0/24"
    created = await engine.networks.create(
        name, driver="bridge", options={"bridge": name, "subnet": subnet}
    )
    try:
        yield created
    finally:
        await remove_all_containers(engine)
        await engine.networks.remove(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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


async def test_a_published_port_answers_from_the_host(
    engine: Engine, busybox: str, network: Network
) -> None:
    port = free_port()
    page = "mkdir -p /www && echo hello-from-lxc > /www/index.html && exec httpd -f -p 80 -h /www"
    config = msgspec.convert(
        {
            "image": "busybox",
            "runtime": "lxc",
            "cmd": ["sh", "-c", page],
            "networks": [network.name],
            "ports": [{"container_port": 80, "host_port": port, "host_ip": "127.0.0.1"}],
        },
        ContainerConfig,
    )
    container = await engine.create(config, name="lxc-web")
    await engine.start(container.id)
    web = engine.inspect(container.id)
    ip = web.attachments[0].ips[0].split("/")[0]
    assert ip.startswith(network.options["subnet"].rsplit(".", 2)[0] + ".")
    # The container joined the namespace the CNI plugin configured.
    code, out, _ = await engine.exec_run(container.id, ["ip", "-o", "-4", "addr", "show"])
    assert code == 0 and f" {ip}/" in out.decode()
    assert await fetch(f"http://127.0.0.1:{port}/") == b"hello-from-lxc\n"
    assert await fetch(f"http://{ip}:80/") == b"hello-from-lxc\n"
