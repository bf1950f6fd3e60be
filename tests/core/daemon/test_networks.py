"""Networks through the API, as docker and its CLI use them: the engine's records.

pouchd runs the host-process test runtime with the ``fake`` network driver
(``pouch.testing._pouchd_launcher``), which hands out addresses and touches
nothing: these tests need neither root nor a network plugin.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from pouch.testing.daemon import PouchDaemon, restart_pouchd


@pytest.fixture
def pouch_runtime() -> str:
    return "process"  # the fake network driver is registered beside it only


def create_network(pouchd: PouchDaemon, name: str, subnet: str, **extra: Any) -> str:
    body = {
        "Name": name,
        "Driver": "fake",
        "IPAM": {"Config": [{"Subnet": subnet, "Gateway": subnet.replace("0/24", "1")}]},
        **extra,
    }
    return str(pouchd.json("POST", "/networks/create", body)["Id"])


def run_on(pouchd: PouchDaemon, network: str, name: str) -> str:
    body = {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": network}}
    cid = str(pouchd.json("POST", "/containers/create", body, query={"name": name})["Id"])
    pouchd.json("POST", f"/containers/{cid}/start")
    return cid


def test_networks_are_the_engines(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    nid = create_network(pouchd, "front", "10.77.1.0/24", Labels={"tier": "web"})
    status, _, body = pouchd.request(
        "POST", "/networks/create", json.dumps({"Name": "front", "Driver": "fake"}).encode()
    )
    assert status == 409 and "already exists" in json.loads(body)["message"]
    shown = pouchd.json("GET", f"/networks/{nid[:12]}")
    assert (shown["Name"], shown["Driver"], shown["Labels"]) == ("front", "fake", {"tier": "web"})
    assert shown["IPAM"]["Config"] == [{"Subnet": "10.77.1.0/24", "Gateway": "10.77.1.1"}]
    assert shown["Options"] == {} and shown["Containers"] == {}
    listed = pouchd.json("GET", "/networks", query={"filters": '{"label":["tier=web"]}'})
    assert [n["Id"] for n in listed] == [nid]
    custom = pouchd.json("GET", "/networks", query={"filters": '{"type":["custom"]}'})
    assert [n["Name"] for n in custom] == ["front"]
    # host and none are found by the IDs ``docker network ls -q`` prints.
    host = next(n for n in pouchd.json("GET", "/networks") if n["Name"] == "host")
    assert pouchd.json("GET", f"/networks/{host['Id'][:12]}")["Name"] == "host"

    cid = run_on(pouchd, "front", "web")
    endpoint = pouchd.json("GET", f"/containers/{cid}/json")["NetworkSettings"]["Networks"]
    assert endpoint["front"]["NetworkID"] == nid
    address = endpoint["front"]["IPAddress"]
    assert address.startswith("10.77.1.") and endpoint["front"]["IPPrefixLen"] == 24
    users = pouchd.json("GET", "/networks/front")["Containers"]
    assert users[cid]["Name"] == "web" and users[cid]["IPv4Address"] == f"{address}/24"

    status, _, body = pouchd.request("DELETE", "/networks/front")
    assert status == 409 and "web" in json.loads(body)["message"]
    assert pouchd.json("POST", "/networks/prune")["NetworksDeleted"] == []

    restart_pouchd(pouchd)  # the records are the engine's store, not the daemon's memory
    assert pouchd.json("GET", "/networks/front")["Containers"][cid]["Name"] == "web"

    pouchd.request("POST", f"/containers/{cid}/stop", query={"t": 1})
    assert pouchd.json("GET", "/networks/front")["Containers"] == {}
    assert pouchd.request("DELETE", f"/networks/{nid}")[0] == 204
    assert pouchd.request("GET", "/networks/front")[0] == 404
    pouchd.request("DELETE", f"/containers/{cid}", query={"force": 1})


def test_connect_and_disconnect_a_running_container(
    pouchd: PouchDaemon, pouchd_busybox: str
) -> None:
    create_network(pouchd, "one", "10.77.2.0/24")
    two = create_network(pouchd, "two", "10.77.3.0/24")
    cid = run_on(pouchd, "one", "app")
    assert pouchd.request("POST", "/networks/two/connect", b'{"Container": "app"}')[0] == 200
    networks = pouchd.json("GET", f"/containers/{cid}/json")["NetworkSettings"]["Networks"]
    assert set(networks) == {"one", "two"}  # attached at once, while it runs
    assert networks["two"]["IPAddress"].startswith("10.77.3.")
    assert cid in pouchd.json("GET", f"/networks/{two}")["Containers"]
    status, _, body = pouchd.request("POST", "/networks/two/connect", b'{"Container": "app"}')
    assert status == 409 and "already" in json.loads(body)["message"]
    status, _, body = pouchd.request(
        "POST",
        "/networks/two/connect",
        json.dumps({"Container": "app", "EndpointConfig": {"Aliases": ["db"]}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and "Aliases" in json.loads(body)["message"]
    status, _, _ = pouchd.request("POST", "/networks/two/connect", b'{"Container": "nothing"}')
    assert status == 404

    assert pouchd.request("POST", "/networks/one/disconnect", b'{"Container": "app"}')[0] == 200
    networks = pouchd.json("GET", f"/containers/{cid}/json")["NetworkSettings"]["Networks"]
    assert set(networks) == {"two"}
    assert pouchd.json("GET", "/networks/one")["Containers"] == {}
    status, _, _ = pouchd.request("POST", "/networks/one/disconnect", b'{"Container": "app"}')
    assert status == 409
    pouchd.request("DELETE", f"/containers/{cid}", query={"force": 1})
    assert sorted(pouchd.json("POST", "/networks/prune")["NetworksDeleted"]) == ["one", "two"]


def test_the_docker_cli_manages_networks(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
) -> None:
    binary, env = docker_cli

    def docker(*args: str) -> str:
        done = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    docker("network", "create", "-d", "fake", "--subnet", "10.77.4.0/24", "back")
    assert "back" in docker("network", "ls", "--format", "{{.Name}}").split()
    subnet = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "back")
    assert subnet.strip() == "10.77.4.0/24"
    docker("network", "create", "-d", "fake", "--subnet", "10.77.5.0/24", "side")
    docker("run", "-d", "--name", "c1", "--network", "side", "busybox", "sleep", "60")
    docker("network", "connect", "back", "c1")
    address = docker("inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "c1")
    assert address.strip().startswith("10.77.4.")
    docker("network", "disconnect", "back", "c1")
    docker("rm", "-f", "c1")
    assert docker("network", "rm", "back", "side").split() == ["back", "side"]
