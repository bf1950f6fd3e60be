"""A pouchd as people drive it with docker's own tools: runc containers on a CNI
bridge as the default network, busybox imported, the docker CLI pointed at it.

Each test's pouchd gets a bridge and subnets of its own (names ``ptXXXXXX``,
addresses in 10.231.0.0/16, as the CNI tests use), removed at teardown.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator

import anyio
import pytest

from pouch.testing.daemon import DEBIAN_DOCKER, PouchDaemon, cni_bridge_settings


@pytest.fixture
def pouch_runtime() -> str:
    return "runc"


@pytest.fixture
def default_bridge() -> Iterator[str]:
    """The default network's bridge, removed with its isolation rules afterwards."""
    name = "pt" + secrets.token_hex(3)
    yield name
    try:
        from pouch_cni._host import remove_bridge
    except ImportError:  # no CNI plugin, so no bridge was made
        return
    anyio.run(remove_bridge, name)


@pytest.fixture
def pouchd_settings(default_bridge: str) -> dict[str, object]:
    return cni_bridge_settings(default_bridge)


@pytest.fixture
def docker_env(pouchd: PouchDaemon, pouchd_busybox: str) -> dict[str, str]:
    """Environment for docker's clients (CLI, docker-py, compose, testcontainers)."""
    config = pouchd.root.parent / "docker-config"
    config.mkdir(exist_ok=True)
    env = {**os.environ, "DOCKER_HOST": pouchd.host, "DOCKER_CONFIG": str(config)}
    env.pop("DOCKER_CONTEXT", None)
    return env


@pytest.fixture
def docker(docker_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``docker(*args, check=True)``: the docker CLI (Debian's 20.10) against the pouchd."""
    binary = str(DEBIAN_DOCKER) if DEBIAN_DOCKER.exists() else shutil.which("docker")
    if binary is None:
        pytest.skip("needs the docker CLI (apt-get install docker.io)")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [binary, *args], env=docker_env, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done

    return run
