"""``docker system df``, ``docker system prune`` and the swarm endpoints, real clients.

Sizes are real: a container that wrote a megabyte shows it in ``SizeRw`` and
in the bytes its prune reclaims.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from pouch.testing.daemon import PouchDaemon, preferred_runtime

docker_py = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")

RUNTIME, NO_RUNC = preferred_runtime()
pytestmark = pytest.mark.skipif(RUNTIME != "runc", reason=f"needs real containers: {NO_RUNC}")

Cli = tuple[str, dict[str, str]]
MEGABYTE = "dd if=/dev/zero of=/big bs=1024 count=1024 2>/dev/null"


@pytest.fixture
def pouch_runtime() -> str:
    return RUNTIME


def run(cli: Cli, *args: str, check: bool = True) -> str:
    binary, env = cli
    done = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done.stdout if check else done.stdout + done.stderr


def test_docker_py_df(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    client = docker_py.DockerClient(base_url=pouchd.host, version="auto", timeout=60)
    client.volumes.create("stuff")
    container = client.containers.run(
        "busybox",
        ["sh", "-c", f"{MEGABYTE}; echo 12345 > /stuff/five"],
        volumes={"stuff": {"bind": "/stuff"}},
        detach=True,
    )
    container.wait()
    usage = client.df()
    assert usage["LayersSize"] > 1_000_000 and usage["BuildCache"] == []
    (image,) = usage["Images"]
    assert image["Containers"] == 1 and image["Size"] > 1_000_000 and image["SharedSize"] == 0
    (mine,) = usage["Containers"]
    assert mine["Id"] == container.id
    assert 1024 * 1024 <= mine["SizeRw"] < 1100 * 1024
    assert mine["SizeRootFs"] == mine["SizeRw"] + image["Size"]
    (volume,) = usage["Volumes"]
    assert volume["Name"] == "stuff" and volume["UsageData"] == {"Size": 6, "RefCount": 1}


def test_docker_system_df_and_prune(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: Cli
) -> None:
    run(docker_cli, "run", "--name", "writer", "busybox", "sh", "-c", MEGABYTE)
    run(docker_cli, "volume", "create", "loose")
    df = run(docker_cli, "system", "df")
    assert df.splitlines()[0].split()[:2] == ["TYPE", "TOTAL"]
    lines = {line.split()[0]: line for line in df.splitlines()[1:]}
    assert "1.049MB" in lines["Containers"]
    verbose = run(docker_cli, "system", "df", "-v")
    assert "writer" in verbose and "loose" in verbose and "busybox" in verbose
    pruned = run(docker_cli, "system", "prune", "-f", "--volumes")
    assert "Deleted Containers:" in pruned
    reclaimed = pruned.strip().splitlines()[-1]
    assert reclaimed.startswith("Total reclaimed space: 1.0")  # the container's megabyte
    assert run(docker_cli, "ps", "-aq") == ""
    assert "loose" not in run(docker_cli, "volume", "ls")
    again = run(docker_cli, "system", "prune", "-f")
    assert again.strip().endswith("Total reclaimed space: 0B")


def test_docker_image_prune_all(pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: Cli) -> None:
    run(docker_cli, "tag", "busybox", "spare:1")
    run(docker_cli, "create", "--name", "user", "busybox", "true")
    assert run(docker_cli, "image", "prune", "-f").strip() == "Total reclaimed space: 0B"
    # Both names are untagged; the image stays: a container was created from it.
    pruned = run(docker_cli, "image", "prune", "-a", "-f")
    assert pruned.strip() == "Total reclaimed space: 0B"
    run(docker_cli, "rm", "user")
    pruned = run(docker_cli, "image", "prune", "-a", "-f")
    assert "untagged: spare:1\n" in pruned and "untagged: busybox:latest\n" in pruned
    assert pruned.startswith("Deleted Images:\n") and "\ndeleted: sha256:" in pruned
    assert run(docker_cli, "images", "-q") == ""
    status, _, body = pouchd.request(
        "POST", "/v1.41/images/prune", query={"filters": '{"dangling": {"maybe": true}}'}
    )
    assert status == 400 and b"use dangling=true or dangling=false" in body
    status, _, body = pouchd.request(
        "POST", "/v1.41/images/prune", query={"filters": '{"before": {"10m": true}}'}
    )
    assert status == 400 and b"invalid filter 'before' (use one of: dangling, label" in body
    status, _, body = pouchd.request(
        "POST", "/v1.41/images/prune", query={"filters": '{"until": {"yesterday": true}}'}
    )
    assert status == 400 and b"'yesterday' is not a unix timestamp" in body


def test_docker_prunes_take_until_and_label_filters(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: Cli
) -> None:
    run(docker_cli, "create", "--name", "base", "busybox", "true")
    for keep in ("yes", "no"):
        run(docker_cli, "commit", "--change", f"LABEL keep={keep}", "base", f"keep-{keep}:1")
    # The docker CLI sends until as it was typed: pouchd takes a duration before now.
    assert run(docker_cli, "container", "prune", "-f", "--filter", "until=1h").strip() == (
        "Total reclaimed space: 0B"
    )
    assert "base" in run(docker_cli, "ps", "-a", "--format", "{{.Names}}")
    pruned = run(docker_cli, "container", "prune", "-f", "--filter", "until=0s")
    assert pruned.startswith("Deleted Containers:\n")
    assert run(docker_cli, "ps", "-aq") == ""
    # Every image is younger than an hour; only busybox has no keep label.
    pruned = run(docker_cli, "image", "prune", "-a", "-f", "--filter", "until=1h")
    assert pruned.strip() == "Total reclaimed space: 0B"
    pruned = run(
        docker_cli, "image", "prune", "-a", "-f", "--filter", "until=0s", "--filter", "label!=keep"
    )
    assert "untagged: busybox:latest\n" in pruned and "keep-" not in pruned
    pruned = run(docker_cli, "image", "prune", "-a", "-f", "--filter", "label=keep=no")
    assert "untagged: keep-no:1\n" in pruned and "keep-yes" not in pruned
    assert run(docker_cli, "images", "--format", "{{.Repository}}").split() == ["keep-yes"]
    # Networks: label and label!.
    run(docker_cli, "network", "create", "--label", "team=a", "team-a")
    run(docker_cli, "network", "create", "plain")
    pruned = run(docker_cli, "network", "prune", "-f", "--filter", "label=team=a")
    assert pruned.split() == ["Deleted", "Networks:", "team-a"]
    assert run(docker_cli, "network", "prune", "-f", "--filter", "until=1h").strip() == ""
    pruned = run(docker_cli, "network", "prune", "-f", "--filter", "label!=team")
    assert pruned.split() == ["Deleted", "Networks:", "plain"]


def test_volume_prune_spares_named_volumes_unless_asked(
    pouchd: PouchDaemon, pouchd_busybox: str
) -> None:
    pouch = [sys.executable, "-m", "pouch", "-H", pouchd.host]

    def cli(*args: str) -> str:
        done = subprocess.run([*pouch, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("volume", "create", "--label", "keep=1", "kept")
    cli("volume", "create", "named")
    cli("run", "--name", "scratch", "-v", "/scratch", "busybox", "true")
    (anonymous,) = [m["Name"] for m in pouchd.json("GET", "/containers/scratch/json")["Mounts"]]
    cli("rm", "scratch")  # without -v: its anonymous volume stays
    pruned = cli("volume", "prune", "-f")
    assert pruned.splitlines()[:2] == ["Deleted Volumes:", anonymous]
    names = cli("volume", "ls", "-q").split()
    assert sorted(names) == ["kept", "named"]
    pruned = cli("volume", "prune", "-a", "-f", "--filter", "label!=keep")
    assert pruned.splitlines()[:2] == ["Deleted Volumes:", "named"]
    assert cli("volume", "ls", "-q").split() == ["kept"]


def test_swarm_endpoints_say_not_in_swarm(pouchd: PouchDaemon, docker_cli: Cli) -> None:
    for command in (("node", "ls"), ("service", "ls"), ("secret", "ls"), ("swarm", "leave")):
        out = run(docker_cli, *command, check=False)
        assert "This node is not part of a swarm" in out, (command, out)
    status, _, body = pouchd.request("GET", "/v1.41/tasks/abc/logs")
    assert status == 503 and b"not part of a swarm" in body


def test_search_and_distribution_against_a_registry(
    pouchd: PouchDaemon, docker_cli: Cli, registry: Any
) -> None:
    from pouch.testing.images import BUSYBOX_CONFIG
    from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

    push_image_to_registry(
        registry.address, "tools/busybox", [busybox_layer_bytes()], BUSYBOX_CONFIG
    )
    found = run(docker_cli, "search", f"{registry.address}/busy")
    assert f"{registry.address}/tools/busybox" in found
    client = docker_py.DockerClient(base_url=pouchd.host, version="auto", timeout=60)
    data = client.api.inspect_distribution(f"{registry.address}/tools/busybox:latest")
    assert data["Descriptor"]["digest"].startswith("sha256:")
    assert data["Platforms"][0]["os"] == "linux"
    with pytest.raises(docker_py.errors.NotFound):
        client.api.inspect_distribution(f"{registry.address}/tools/nothing:1")
    status, _, body = pouchd.request("GET", "/images/search", query={"term": "busybox"})
    assert status == 501 and b"/v2/_catalog" in body  # no registry configured to search
