"""Builds as users run them: a multi-stage Dockerfile through pouchd, with the docker CLI
(classic builder, ``DOCKER_BUILDKIT=0``), docker-py and ``pouch build``; real
containers on runc, the result run afterwards; a failing step leaves nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pouch.testing.daemon import PouchDaemon, preferred_runtime, restart_pouchd
from pouch.testing.podman import private_podman
from pouch.testing.registry import Registry

RUNTIME, NO_RUNC = preferred_runtime()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(RUNTIME != "runc", reason=f"builds run steps on runc: {NO_RUNC}"),
]

DOCKERFILE = """\
ARG BASE=busybox
FROM ${BASE} AS build
ARG GREETING=hello
ENV OUT=/out
WORKDIR /work
COPY src/ ./src/
RUN mkdir -p $OUT && cat src/*.txt > $OUT/all.txt && echo "$GREETING from RUN" >> $OUT/all.txt

FROM scratch
COPY --from=build /out/all.txt /all.txt
COPY --from=build /bin/busybox /bin/busybox
LABEL org.example.stage="final"
CMD ["/bin/busybox", "cat", "/all.txt"]
"""


@pytest.fixture
def pouch_runtime() -> str:
    return RUNTIME


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "secret").mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "src" / "a.txt").write_text("one\n")
    (root / "src" / "b.txt").write_text("two\n")
    (root / "secret" / "key").write_text("do not send\n")
    (root / ".dockerignore").write_text("secret\n")
    return root


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)


def _pouch(pouchd: PouchDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "pouch", "-H", pouchd.host, *args])


def _built(pouchd: PouchDaemon, context: Path, tag: str) -> None:
    done = _pouch(pouchd, "build", "-t", tag, str(context))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def classic_docker(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
) -> tuple[str, dict[str, str]]:
    """The docker CLI on pouchd (busybox imported) with its classic builder."""
    docker, env = docker_cli
    return docker, {**env, "DOCKER_BUILDKIT": "0"}


def test_the_docker_cli_builds_and_the_image_runs(
    classic_docker: tuple[str, dict[str, str]], context: Path
) -> None:
    docker, env = classic_docker
    built = _run(
        [docker, "build", "-t", "app:1", "--build-arg", "GREETING=hi", "--label", "by=test",
         str(context)],
        env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "Step 1/11 : FROM ${BASE} AS build" in built.stdout
    assert "Successfully tagged app:1" in built.stdout
    ran = _run([docker, "run", "--rm", "app:1"], env)
    assert (ran.returncode, ran.stdout) == (0, "one\ntwo\nhi from RUN\n"), ran.stderr
    labels = _run([docker, "inspect", "-f", "{{json .Config.Labels}}", "app:1"], env)
    assert labels.stdout.strip() == '{"by":"test","org.example.stage":"final"}'
    assert _run([docker, "ps", "-aq"], env).stdout == ""  # no step container left


def test_a_failing_run_shows_its_output_and_leaves_nothing(
    classic_docker: tuple[str, dict[str, str]], context: Path
) -> None:
    docker, env = classic_docker
    (context / "Dockerfile").write_text(
        'FROM busybox\nCOPY . /ctx/\nRUN ls /ctx && echo "about to fail" && exit 3\n'
    )
    failed = _run([docker, "build", str(context)], env)
    assert failed.returncode != 0
    assert "src\n" in failed.stdout and "secret" not in failed.stdout  # .dockerignore
    assert "about to fail" in failed.stdout
    assert "returned a non-zero code: 3" in failed.stderr
    assert _run([docker, "ps", "-aq"], env).stdout == ""


def test_pouch_build_and_docker_py(
    pouchd: PouchDaemon, pouchd_busybox: str, context: Path, tmp_path: Path
) -> None:
    iid = tmp_path / "iid"
    env = {**os.environ, "POUCH_HOST": pouchd.host}
    built = _run(
        [sys.executable, "-m", "pouch", "-H", pouchd.host, "build", "-q", "--iidfile", str(iid),
         "-t", "app:2", "--target", "build", str(context)],
        env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == iid.read_text() and iid.read_text().startswith("sha256:")
    docker = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")
    client = docker.DockerClient(base_url=pouchd.host)
    try:
        image, lines = client.images.build(path=str(context), tag="app:3", rm=True)
        assert "app:3" in image.tags
        assert any("Successfully built" in line.get("stream", "") for line in lines)
        out = client.containers.run("app:3", remove=True)
        assert out == b"one\ntwo\nhello from RUN\n"
    finally:
        client.close()


def test_the_cache_reuses_steps_until_a_file_changes_and_survives_a_restart(
    pouchd: PouchDaemon, pouchd_busybox: str, context: Path
) -> None:
    def build(*flags: str) -> str:
        argv = [sys.executable, "-m", "pouch", "-H", pouchd.host, "build", *flags]
        done = _run([*argv, "-t", "cached:1", str(context)])
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = build()
    assert "Using cache" not in first
    second = build()
    # Every step but the two FROMs: ARG is no image of its own, docker says nothing for it.
    assert second.count(" ---> Using cache") == 8, second
    assert second.split("Successfully built ")[1] == first.split("Successfully built ")[1]
    (context / "src" / "a.txt").touch()  # same content: still the cache
    assert build().count("Using cache") == 8
    (context / "src" / "b.txt").write_text("three\n")
    changed = build()
    # ENV and WORKDIR from the cache; the COPY of src/ and all after it again.
    assert changed.count("Using cache") == 2, changed
    restart_pouchd(pouchd)
    assert build().count("Using cache") == 8
    assert build("--no-cache").count("Using cache") == 0
    pruned = _run([sys.executable, "-m", "pouch", "-H", pouchd.host, "builder", "prune", "-f"])
    assert pruned.returncode == 0 and "Total reclaimed space" in pruned.stdout
    assert build().count("Using cache") == 0


@pytest.mark.binary("podman")
def test_the_built_image_pushes_and_runs_in_podman(
    pouchd: PouchDaemon, pouchd_busybox: str, context: Path, registry: Registry
) -> None:
    reference = f"{registry.address}/built/app:1"
    _built(pouchd, context, reference)
    pushed = _pouch(pouchd, "push", reference)
    assert pushed.returncode == 0, pushed.stderr
    with private_podman() as podman:
        ran = podman.pull_and_run(reference)
    assert (ran.returncode, ran.stdout) == (0, "one\ntwo\nhello from RUN\n"), ran.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose")
def test_docker_compose_builds_and_runs_the_service(
    classic_docker: tuple[str, dict[str, str]], context: Path
) -> None:
    _, env = classic_docker
    (context / "docker-compose.yml").write_text(
        "version: '3'\nservices:\n  app:\n    build: .\n    image: composed:1\n"
    )
    compose = [
        "docker-compose",
        "--no-ansi",
        "-p",
        "ptbuild",
        "-f",
        str(context / "docker-compose.yml"),
    ]
    built = _run([*compose, "build"], env)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Successfully tagged composed:1" in built.stdout + built.stderr
    ran = _run([*compose, "run", "--rm", "app"], env)
    try:
        assert ran.stdout.replace("\r", "") == "one\ntwo\nhello from RUN\n", ran.stderr
    finally:
        _run([*compose, "down", "--rmi", "local"], env)


def test_here_documents_in_run_and_copy(
    pouchd: PouchDaemon, pouchd_busybox: str, context: Path
) -> None:
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN <<EOF\n"
        "echo first > /made\n"
        "echo second >> /made\n"
        "EOF\n"
        "COPY <<NOTE /note.txt\n"
        "written inline\n"
        "NOTE\n"
        'CMD ["cat", "/made", "/note.txt"]\n'
    )
    _built(pouchd, context, "heredoc:1")
    ran = _pouch(pouchd, "run", "--rm", "heredoc:1")
    assert ran.stdout == "first\nsecond\nwritten inline\n", ran.stderr
    assert not list((pouchd.run_root / "builds").iterdir())  # context and scratch gone


def test_onbuild_triggers_run_in_the_build_that_uses_the_image(
    pouchd: PouchDaemon, pouchd_busybox: str, context: Path
) -> None:
    base = context / "base"
    base.mkdir()
    (base / "Dockerfile").write_text(
        "FROM busybox\nONBUILD COPY src/ /app/\nONBUILD RUN ls /app > /listing\n"
    )
    _built(pouchd, base, "onbuild-base:1")
    (context / "Dockerfile").write_text('FROM onbuild-base:1\nCMD ["cat", "/listing"]\n')
    child = _pouch(pouchd, "build", "-t", "onbuild-child:1", str(context))
    assert "# Executing 2 build triggers" in child.stdout, child.stdout + child.stderr
    assert _pouch(pouchd, "run", "--rm", "onbuild-child:1").stdout == "a.txt\nb.txt\n"
    inspected = _pouch(pouchd, "inspect", "-f", "{{json .Config.OnBuild}}", "onbuild-child:1")
    assert inspected.stdout.strip() == "null"


def test_copy_chown_takes_the_images_user_and_group_names(
    pouchd: PouchDaemon, pouchd_busybox: str, context: Path
) -> None:
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        "COPY --chown=nobody:nogroup --chmod=640 src/a.txt /owned\n"
        'CMD ["stat", "-c", "%u:%g %a", "/owned"]\n'
    )
    _built(pouchd, context, "owned:1")
    assert _pouch(pouchd, "run", "--rm", "owned:1").stdout == "65534:65534 640\n"
    (context / "Dockerfile").write_text("FROM busybox\nCOPY --chown=nosuchuser src/a.txt /x\n")
    refused = _pouch(pouchd, "build", str(context))
    assert refused.returncode != 0 and "no user 'nosuchuser' in the image" in refused.stderr
