"""Creating networks: the configuration list written, and every refusal naming its cause.

These run the real plugin binaries only for VERSION and touch nothing on the
host but files under the test's temporary directory.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import anyio
import pytest
from pouch_cni import BridgeDriver, MissingPlugin
from pouch_cni._endpoints import endpoint_conflist
from pouch_cni._settings import CNISettings
from pouch_cni.plugin import host_problem

from pouch.drivers import Endpoint, Sandbox
from pouch.errors import Conflict, InvalidArgument

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(host_problem() is not None, reason=str(host_problem())),
]


def make_driver(tmp_path: Path, **settings: object) -> BridgeDriver:
    base = tmp_path / "cni"
    options: dict[str, object] = {
        "conf_dir": base / "net.d",
        "cache_dir": base / "cache",
        "data_dir": base / "networks",
    }
    options.update(settings)
    return BridgeDriver(CNISettings(**options), default_network="bridge")  # type: ignore[arg-type]


@pytest.fixture
def driver(tmp_path: Path) -> BridgeDriver:
    return make_driver(tmp_path)


def conflist(driver: BridgeDriver, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((driver.settings.conf / f"{name}.conflist").read_text())
    return data


async def test_a_user_network_chains_bridge_portmap_and_firewall(driver: BridgeDriver) -> None:
    await driver.create_network("web", {"subnet": "10.231.9.0/24", "gateway": "10.231.9.254"})
    written = conflist(driver, "web")
    assert written["name"] == "web" and written["cniVersion"] == "1.0.0"
    bridge, portmap, firewall = written["plugins"]  # type: ignore[misc]
    assert bridge["type"] == "bridge" and bridge["isGateway"] and bridge["ipMasq"]
    assert bridge["bridge"].startswith("pouch-") and len(bridge["bridge"]) <= 15
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["dataDir"] == str(driver.settings.data)
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.231.9.0/24", "gateway": "10.231.9.254"}]]
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}
    assert firewall["type"] == "firewall" and firewall["ingressPolicy"] == "same-bridge"
    await driver.remove_network("web")
    assert not (driver.settings.conf / "web.conflist").exists()


async def test_the_default_network_uses_pouch0_and_the_default_subnet(tmp_path: Path) -> None:
    driver = make_driver(tmp_path, default_subnet="10.231.10.0/24")
    await driver.create_network("bridge", {})
    bridge = conflist(driver, "bridge")["plugins"][0]  # type: ignore[index]
    assert bridge["bridge"] == "pouch0"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.231.10.0/24", "gateway": "10.231.10.1"}]]


async def test_networks_without_a_subnet_get_free_blocks_of_the_pool(tmp_path: Path) -> None:
    driver = make_driver(tmp_path, subnet_pool="10.231.32.0/22")
    await driver.create_network("one", {"subnet": "10.231.32.0/24"})
    await driver.create_network("two", {})
    await driver.create_network("three", {})
    ranges = [
        conflist(driver, n)["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]  # type: ignore[index]
        for n in ("two", "three")
    ]
    assert ranges == ["10.231.33.0/24", "10.231.34.0/24"]


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"subnet": "10.231.300.0/24"}, "subnet", "not a subnet"),
        ({"subnet": "10.231.11.0"}, "subnet", "prefix length"),
        ({"subnet": "10.231.11.7/24"}, "subnet", "did you mean 10.231.11.0/24"),
        ({"subnet": "10.231.11.0/31"}, "subnet", "too small"),
        ({"subnet": "10.231.11.0/24", "gateway": "10.231.12.1"}, "gateway", "not in subnet"),
        ({"subnet": "10.231.11.0/24", "gateway": "10.231.11.0"}, "gateway", "not a usable"),
        ({"subnet": "10.231.11.0/24", "gateway": "nonsense"}, "gateway", "not an IP address"),
        ({"gateway": "10.231.11.1"}, "gateway", "needs a subnet"),
        ({"subnet": "10.231.11.0/24", "ip_range": "10.231.12.0/25"}, "ip_range", "not inside"),
        ({"subnet": "10.231.11.0/24", "bridge": "a-much-too-long-name"}, "bridge", "interface"),
        ({"subnet": "10.231.11.0/24", "mtu": "9"}, "mtu", "MTU"),
    ],
)
async def test_invalid_options_are_refused_naming_the_field(
    driver: BridgeDriver, options: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(InvalidArgument, match=words) as refused:
        await driver.create_network("bad", options)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")
    assert not (driver.settings.conf / "bad.conflist").exists()


async def test_an_overlapping_subnet_names_the_other_network(driver: BridgeDriver) -> None:
    await driver.create_network("first", {"subnet": "10.231.12.0/23"})
    with pytest.raises(InvalidArgument, match="overlaps network first") as refused:
        await driver.create_network("second", {"subnet": "10.231.13.0/24"})
    assert refused.value.field == "subnet"


async def test_a_subnet_on_a_host_route_is_refused(driver: BridgeDriver) -> None:
    out = (await anyio.run_process(["ip", "-j", "-4", "route"])).stdout
    routes = [r for r in json.loads(out or b"[]") if r.get("dst", "default") != "default"]
    if not routes:
        pytest.skip("the host has no route to a subnet")
    taken = ipaddress.ip_network(routes[0]["dst"], strict=False)
    with pytest.raises(InvalidArgument, match=f"host's route to {taken} on {routes[0]['dev']}"):
        await driver.create_network("lan", {"subnet": str(taken)})


async def test_missing_plugin_binaries_are_named_with_the_package(tmp_path: Path) -> None:
    partial = tmp_path / "bin"
    partial.mkdir()
    (partial / "bridge").symlink_to("/usr/lib/cni/bridge")
    driver = make_driver(tmp_path, plugin_dirs=[partial])
    with pytest.raises(MissingPlugin) as missing:
        await driver.create_network("net", {"subnet": "10.231.14.0/24"})
    message = str(missing.value)
    assert "'portmap, firewall, host-local' not found in" in message
    assert "install the Debian package containernetworking-plugins" in message
    with pytest.raises(MissingPlugin):
        await driver.attach(Sandbox(id="c1", netns_path="/proc/self/ns/net"), "net", {})


async def test_a_network_with_cached_attachments_is_not_removed(driver: BridgeDriver) -> None:
    from pouch_cni import CacheEntry

    await driver.create_network("held", {"subnet": "10.231.15.0/24"})
    driver.cache.put(
        CacheEntry(containerId="c1", ifName="eth0", networkName="held", config={}, sandboxName="x")
    )
    with pytest.raises(Conflict, match="in use by x"):
        await driver.remove_network("held")


def test_portmap_runs_only_for_an_endpoint_that_publishes_ports() -> None:
    """Without published ports the chain leaves portmap out (ADD and DEL alike)."""
    chain = {"plugins": [{"type": "bridge"}, {"type": "portmap"}, {"type": "firewall"}]}
    without = endpoint_conflist(chain, Endpoint(), ports=False)
    assert [p["type"] for p in without["plugins"]] == ["bridge", "firewall"]
    with_ports = endpoint_conflist(chain, Endpoint(), ports=True)
    assert [p["type"] for p in with_ports["plugins"]] == ["bridge", "portmap", "firewall"]
    assert len(chain["plugins"]) == 3  # the network's own list is untouched
