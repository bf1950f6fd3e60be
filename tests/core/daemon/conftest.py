"""Fixtures of the daemon tests: a real pouchd (``pouch.testing.daemon``) and its clients."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pouch.testing.daemon import (
    PouchDaemon,
    import_busybox_api,
    pouchd,
    pouchd_busybox,
    running_pouchd,
)

__all__ = ["api", "docker_cli", "pouchd", "pouchd_busybox"]

# Debian's docker.io client (API 1.41), which scripts/setup installs; any
# other docker client on PATH is used when that one is absent.
DEBIAN_DOCKER = Path("/usr/bin/docker")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PouchDaemon]:
    """One pouchd (process runtime, no images) shared by a module's API tests."""
    with running_pouchd(tmp_path_factory.mktemp("api")) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def api_busybox(api: PouchDaemon, tmp_path_factory: pytest.TempPathFactory) -> str:
    from pouch.testing.images import busybox_rootfs_tar

    return import_busybox_api(api, busybox_rootfs_tar(tmp_path_factory.mktemp("img")))


@pytest.fixture
def docker_cli(pouchd: PouchDaemon) -> Iterator[tuple[str, dict[str, str]]]:
    """(docker binary, environment pointing it at ``pouchd``)."""
    binary = str(DEBIAN_DOCKER) if DEBIAN_DOCKER.exists() else shutil.which("docker")
    if binary is None:
        pytest.skip("needs the docker CLI (apt-get install docker.io)")
    config = Path(pouchd.root).parent / "docker-config"
    config.mkdir(exist_ok=True)
    env = {**os.environ, "DOCKER_HOST": pouchd.host, "DOCKER_CONFIG": str(config)}
    env.pop("DOCKER_CONTEXT", None)
    yield binary, env
