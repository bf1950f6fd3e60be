"""The docker CLI's everyday networking on pouchd with runc and CNI: ports the daemon
picks, -P, network aliases, fixed addresses, a shared network namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable

from pouch.testing.daemon import PouchDaemon

Docker = Callable[..., subprocess.CompletedProcess[str]]

HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p {port} -h /www"


def fetch(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as reply:
        data: bytes = reply.read()
        return data


def test_ports_the_daemon_picks(docker: Docker) -> None:
    docker(
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8000",
        "-p",
        "127.0.0.1::8001",
        "--expose",
        "9000",
        "busybox",
        "sh",
        "-c",
        HTTPD.format(text="picked", port=8000),
    )
    lines = docker("port", "web").stdout.splitlines()
    assert len(lines) == 2, lines
    first = next(line for line in lines if line.startswith("8000/tcp -> 0.0.0.0:"))
    port = int(first.rpartition(":")[2])
    assert port > 0
    assert any(line.startswith("8001/tcp -> 127.0.0.1:") for line in lines), lines
    status = docker("ps", "--format", "{{.Ports}}").stdout
    assert f"0.0.0.0:{port}->8000/tcp" in status and "9000/tcp" in status, status
    for _ in range(50):
        try:
            assert fetch(port) == b"picked\n"
            break
        except OSError:
            subprocess.run(["sleep", "0.1"])
    else:
        raise AssertionError(f"nothing answers on the picked port {port}")
    inspect = json.loads(docker("inspect", "web").stdout)[0]
    assert inspect["HostConfig"]["PortBindings"]["8000/tcp"] == [{"HostIp": "", "HostPort": ""}]
    docker("stop", "-t", "0", "web")
    assert json.loads(docker("inspect", "web").stdout)[0]["NetworkSettings"]["Ports"] == {}


def test_publish_all_publishes_every_exposed_port(docker: Docker) -> None:
    docker(
        "run",
        "-d",
        "--name",
        "all",
        "-P",
        "--expose",
        "7000",
        "--expose",
        "7001/udp",
        "busybox",
        "sleep",
        "60",
    )
    inspect = json.loads(docker("inspect", "all").stdout)[0]
    assert inspect["HostConfig"]["PublishAllPorts"] is True
    assert set(inspect["Config"]["ExposedPorts"]) == {"7000/tcp", "7001/udp"}
    ports = inspect["NetworkSettings"]["Ports"]
    assert set(ports) == {"7000/tcp", "7001/udp"}
    assert all(int(binding[0]["HostPort"]) > 0 for binding in ports.values()), ports


def test_bad_port_specs_are_refused(docker: Docker) -> None:
    done = docker("run", "--rm", "-p", "127.0.0.1:x:80", "busybox", "true", check=False)
    assert done.returncode != 0 and "port" in done.stderr.lower(), done.stderr


def test_aliases_and_fixed_addresses_on_a_user_network(docker: Docker) -> None:
    docker("network", "create", "--subnet", "10.231.250.0/24", "ptalias")
    try:
        docker(
            "run",
            "-d",
            "--name",
            "server",
            "--network",
            "ptalias",
            "--network-alias",
            "api",
            "--ip",
            "10.231.250.50",
            "--mac-address",
            "02:42:0a:e7:fa:32",
            "busybox",
            "sh",
            "-c",
            HTTPD.format(text="by-alias", port=80),
        )
        seen = docker(
            "run",
            "--rm",
            "--network",
            "ptalias",
            "busybox",
            "sh",
            "-c",
            "wget -q -O - http://api/index.html; wget -q -O - http://server/index.html",
        ).stdout
        assert seen == "by-alias\nby-alias\n"
        linked = docker(
            "run",
            "--rm",
            "--network",
            "ptalias",
            "--link",
            "server:backend",
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://backend/index.html",
        ).stdout
        assert linked == "by-alias\n"
        inspect = json.loads(docker("inspect", "server").stdout)[0]
        endpoint = inspect["NetworkSettings"]["Networks"]["ptalias"]
        assert endpoint["IPAddress"] == "10.231.250.50"
        assert endpoint["IPAMConfig"] == {"IPv4Address": "10.231.250.50"}
        assert endpoint["MacAddress"] == "02:42:0a:e7:fa:32"
        assert endpoint["Aliases"][0] == "api" and inspect["Id"][:12] in endpoint["Aliases"]
        link = docker("exec", "server", "cat", "/sys/class/net/eth0/address").stdout
        assert link.strip() == "02:42:0a:e7:fa:32"

        taken = docker(
            "run",
            "--rm",
            "--network",
            "ptalias",
            "--ip",
            "10.231.250.50",
            "busybox",
            "true",
            check=False,
        )
        assert taken.returncode != 0, "a second container got an address already taken"

        docker("run", "-d", "--name", "late", "--network", "none", "busybox", "sleep", "60")
        docker("create", "--name", "joiner", "busybox", "sleep", "60")
        docker("network", "disconnect", "bridge", "joiner")
        docker("network", "connect", "--alias", "second", "ptalias", "joiner")
        docker("start", "joiner")
        seen = docker(
            "run", "--rm", "--network", "ptalias", "busybox", "sh", "-c", "ping -c1 -W2 second"
        ).stdout
        assert "1 packets received" in seen, seen
        refused = docker("network", "connect", "--alias", "x", "bridge", "late", check=False)
        assert refused.returncode != 0
    finally:
        docker("rm", "-f", "server", "late", "joiner", check=False)
        docker("network", "rm", "ptalias", check=False)


def test_sharing_another_containers_network(docker: Docker) -> None:
    docker(
        "run",
        "-d",
        "--name",
        "owner",
        "--hostname",
        "owner-host",
        "busybox",
        "sh",
        "-c",
        HTTPD.format(text="shared", port=8080),
    )
    seen = docker(
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox",
        "sh",
        "-c",
        "hostname; wget -q -O - http://127.0.0.1:8080/index.html",
    ).stdout
    assert seen == "owner-host\nshared\n"
    docker("create", "--name", "guest", "--network", "container:owner", "busybox", "sleep", "60")
    mode = docker("inspect", "--format", "{{.HostConfig.NetworkMode}}", "guest").stdout
    owner_id = docker("inspect", "--format", "{{.Id}}", "owner").stdout.strip()
    assert mode.strip() == f"container:{owner_id}"
    docker("stop", "-t", "0", "owner")
    refused = docker("start", "guest", check=False)
    assert refused.returncode != 0 and "not running" in refused.stderr, refused.stderr
    refused = docker(
        "run", "--rm", "--network", "container:owner", "-p", "80", "busybox", "true", check=False
    )
    assert refused.returncode != 0 and "NetworkMode" in refused.stderr, refused.stderr


def test_the_pouch_cli_flags(pouchd: PouchDaemon, docker_env: dict[str, str]) -> None:
    def pouch(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pouch", "-H", pouchd.host, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert pouch("network", "create", "--subnet", "10.231.249.0/24", "ptflags").returncode == 0
    try:
        done = pouch(
            "run",
            "-d",
            "--name",
            "flagged",
            "--network",
            "ptflags",
            "--network-alias",
            "named",
            "--ip",
            "10.231.249.9",
            "--mac-address",
            "02:42:0a:e7:f9:09",
            "-P",
            "--expose",
            "81",
            "busybox",
            "sleep",
            "60",
        )
        assert done.returncode == 0, done.stderr
        found = json.loads(pouch("inspect", "flagged").stdout)[0]
        endpoint = found["NetworkSettings"]["Networks"]["ptflags"]
        assert endpoint["IPAddress"] == "10.231.249.9" and "named" in endpoint["Aliases"]
        assert endpoint["MacAddress"] == "02:42:0a:e7:f9:09"
        assert int(found["NetworkSettings"]["Ports"]["81/tcp"][0]["HostPort"]) > 0
        refused = pouch("run", "--rm", "--network-alias", "x", "busybox", "true")
        assert refused.returncode == 125 and "user-defined network" in refused.stderr
    finally:
        pouch("rm", "-f", "flagged")
        pouch("network", "rm", "ptflags")
