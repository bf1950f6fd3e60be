"""The build a new user tries first: a static program compiled in a Debian stage, tested in a
second, shipped in ``scratch`` with a healthcheck and labels; built, run, rebuilt from the
cache, pushed, and run by podman. Slow: the Debian builder image (gcc) is made once by
``mmdebstrap`` and cached in ~/.cache/pouch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pouch.testing.daemon import PouchDaemon, import_busybox_api, preferred_runtime
from pouch.testing.debian_images import BUILDER, DebianImageMissing, debian_rootfs_tar
from pouch.testing.podman import private_podman
from pouch.testing.registry import Registry

RUNTIME, NO_RUNC = preferred_runtime()
pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(RUNTIME != "runc", reason=f"builds run steps on runc: {NO_RUNC}"),
]

PROGRAM = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--check") == 0) return 0;
    printf("hello from a static program, %s\n", GREETING);
    return 0;
}
"""
DOCKERFILE = """\
FROM debian-builder:12 AS build
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -DGREETING='"built by pouch"' -o /hello hello.c

FROM build AS test
RUN /hello | grep -q 'built by pouch'

FROM scratch
COPY --from=build /hello /hello
HEALTHCHECK --interval=1s --timeout=1s CMD ["/hello", "--check"]
LABEL org.opencontainers.image.title="hello" org.example.built-with="pouch build"
ENTRYPOINT ["/hello"]
"""


@pytest.fixture
def pouch_runtime() -> str:
    return RUNTIME


@pytest.fixture
def builder_image(pouchd: PouchDaemon) -> str:
    try:
        tarball = debian_rootfs_tar(BUILDER)
    except DebianImageMissing as missing:
        pytest.skip(str(missing))
    return import_busybox_api(pouchd, tarball, "debian-builder:12")


def _pouch(pouchd: PouchDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pouch", "-H", pouchd.host, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


def test_a_three_stage_build_runs_rebuilds_from_cache_and_runs_in_podman(
    pouchd: PouchDaemon,
    builder_image: str,
    registry: Registry,
    tmp_path: Path,
) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "hello.c").write_text(PROGRAM)
    built = _pouch(pouchd, "build", "-t", "app", str(context))
    assert built.returncode == 0, built.stdout + built.stderr
    ran = _pouch(pouchd, "run", "--rm", "app")
    assert ran.stdout == "hello from a static program, built by pouch\n", ran.stderr
    inspected = json.loads(_pouch(pouchd, "inspect", "--type", "image", "app").stdout)[0]["Config"]
    assert inspected["Labels"]["org.example.built-with"] == "pouch build"
    assert inspected["Healthcheck"]["Test"] == ["CMD", "/hello", "--check"]
    started = _pouch(pouchd, "run", "-d", "--name", "healthy", "app", "--check")
    assert started.returncode == 0, started.stderr

    # The same context again: every step from the cache.
    began = time.monotonic()
    again = _pouch(pouchd, "build", "-t", "app", str(context))
    steps = again.stdout.count("Step ")
    assert again.stdout.count("Using cache") == steps - 3, again.stdout  # all but the FROMs
    print(f"cached rebuild: {steps} steps in {time.monotonic() - began:.2f}s")
    # The program changed: from its COPY on, again.
    (context / "hello.c").write_text(PROGRAM.replace("hello from", "hi from"))
    changed = _pouch(pouchd, "build", "-t", "app", str(context))
    assert changed.returncode == 0 and changed.stdout.count("Using cache") == 1, changed.stdout
    assert _pouch(pouchd, "run", "--rm", "app").stdout.startswith("hi from")

    reference = f"{registry.address}/demo/app:1"
    assert _pouch(pouchd, "tag", "app", reference).returncode == 0
    pushed = _pouch(pouchd, "push", reference)
    assert pushed.returncode == 0, pushed.stderr
    with private_podman() as podman:
        in_podman = podman.pull_and_run(reference)
    assert in_podman.stdout == "hi from a static program, built by pouch\n", in_podman.stderr
