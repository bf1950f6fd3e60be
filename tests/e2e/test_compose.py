"""docker-compose 1.29 (Debian's, through docker-py) brings a project up and down on pouchd.

The project (compose/docker-compose.yml) uses what everyday compose files use:
a healthcheck that another service waits for, a published port, a network
alias, a named volume and ``volumes_from``. After ``down -v`` nothing of it is
left: no container, network or volume.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from pouch.testing.daemon import PouchDaemon

COMPOSE_FILE = Path(__file__).parent / "compose" / "docker-compose.yml"

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="needs docker-compose (apt-get install docker-compose)",
)


def compose(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = ["docker-compose", "--no-ansi", "-p", "ptcompose", "-f", str(COMPOSE_FILE), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def test_a_project_comes_up_healthy_and_goes_away(
    pouchd: PouchDaemon, docker_env: dict[str, str]
) -> None:
    try:
        compose(docker_env, "up", "-d")
        listing = compose(docker_env, "ps").stdout
        web = next(line for line in listing.splitlines() if line.startswith("ptcompose_web_1"))
        assert "(healthy)" in web, listing
        for service in ("client", "store"):
            assert any(
                line.startswith(f"ptcompose_{service}_1") and " Up" in line
                for line in listing.splitlines()
            ), listing

        logs = ""
        for _ in range(100):  # the client prints once it has reached the web server twice
            logs = compose(docker_env, "logs", "--no-color", "client").stdout
            if logs.count("hello-compose") == 2:
                break
            time.sleep(0.1)
        assert logs.count("hello-compose") == 2, logs

        stored = compose(docker_env, "exec", "-T", "web", "cat", "/data/file").stdout
        assert stored == "stored-by-store\n"

        address = compose(docker_env, "port", "web", "80").stdout.strip()
        port = int(address.rpartition(":")[2])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as reply:
            assert reply.read() == b"hello-compose\n"
    finally:
        compose(docker_env, "down", "-v", "--timeout", "1", check=False)
    assert pouchd.json("GET", "/containers/json", query={"all": "1"}) == []
    assert pouchd.json("GET", "/volumes")["Volumes"] in (None, [])
    names = {n["Name"] for n in pouchd.json("GET", "/networks")}
    assert not any(name.startswith("ptcompose") for name in names), names
