"""Healthchecks on real containers, driven by the docker CLI, docker-py and docker-compose.

The probes run through the runtime's exec (runc under conmon where the host
has it, else the host-process test runtime); each test uses intervals of a
second so a container goes starting → unhealthy → healthy in a few seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pouch.oci.image import ImageHealthcheck
from pouch.testing.daemon import PouchDaemon, preferred_runtime, restart_pouchd
from pouch.testing.images import BUSYBOX_CONFIG

RUNTIME, _ = preferred_runtime()
SECOND = 1_000_000_000


@pytest.fixture
def pouch_runtime() -> str:
    return RUNTIME


def run(
    cli: tuple[str, dict[str, str]], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    binary, env = cli
    done = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


def inspect(cli: tuple[str, dict[str, str]], name: str) -> Any:
    return json.loads(run(cli, "inspect", name).stdout)[0]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``probe`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def health(cli: tuple[str, dict[str, str]], name: str) -> dict[str, Any]:
    found: dict[str, Any] = inspect(cli, name)["State"].get("Health") or {}
    return found


def status_is(cli: tuple[str, dict[str, str]], name: str, status: str) -> Callable[[], bool]:
    return lambda: health(cli, name).get("Status") == status


def test_a_container_goes_unhealthy_then_healthy(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
) -> None:
    since = str(int(time.time()) - 1)
    run(
        docker_cli,
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "echo probing; test -f /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "3",
        "busybox",
        "sleep",
        "300",
    )
    first = inspect(docker_cli, "hc")
    assert first["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "echo probing; test -f /tmp/ok"],
        "Interval": SECOND,
        "Timeout": 0,
        "StartPeriod": 0,
        "StartInterval": 0,
        "Retries": 3,
    }
    assert first["State"]["Health"]["Status"] == "starting"
    assert "(health: starting)" in run(docker_cli, "ps").stdout

    wait_for("unhealthy", status_is(docker_cli, "hc", "unhealthy"))
    state = health(docker_cli, "hc")
    assert state["FailingStreak"] >= 3
    last = state["Log"][-1]
    assert (last["ExitCode"], last["Output"]) == (1, "probing\n")
    assert last["Start"] <= last["End"]
    assert "(unhealthy)" in run(docker_cli, "ps").stdout
    listed = run(docker_cli, "ps", "-q", "--no-trunc", "--filter", "health=unhealthy").stdout
    assert listed.split() == [first["Id"]]

    run(docker_cli, "exec", "hc", "touch", "/tmp/ok")
    wait_for("healthy", status_is(docker_cli, "hc", "healthy"))
    state = health(docker_cli, "hc")
    assert state["FailingStreak"] == 0 and state["Log"][-1]["ExitCode"] == 0
    assert 1 < len(state["Log"]) <= 5
    assert "(healthy)" in run(docker_cli, "ps").stdout
    assert run(docker_cli, "ps", "-q", "--filter", "health=healthy").stdout.strip()
    assert not run(docker_cli, "ps", "-q", "--filter", "health=unhealthy").stdout.strip()
    assert not run(docker_cli, "ps", "-q", "--filter", "health=none").stdout.strip()
    bad = run(docker_cli, "ps", "--filter", "health=fine", check=False)
    assert bad.returncode != 0 and "health" in bad.stderr

    events = run(
        docker_cli,
        "events",
        "--since",
        since,
        "--until",
        str(int(time.time()) + 1),
        "--filter",
        "event=health_status",
        "--format",
        "{{.Status}} {{.Actor.Attributes.name}}",
    ).stdout.splitlines()
    assert events == ["health_status: unhealthy hc", "health_status: healthy hc"]

    # Stopped, the last health is kept; started again, it starts over.
    run(docker_cli, "stop", "-t", "1", "hc")
    assert health(docker_cli, "hc")["Status"] == "healthy"
    assert "(healthy)" not in run(docker_cli, "ps", "-a").stdout
    run(docker_cli, "start", "hc")
    assert health(docker_cli, "hc")["Status"] == "starting"
    wait_for("healthy after a restart", status_is(docker_cli, "hc", "healthy"))
    run(docker_cli, "rm", "-f", "hc")


def test_a_probe_that_times_out_fails_and_is_killed(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
) -> None:
    run(
        docker_cli,
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 10",
        "--health-timeout",
        "1s",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    )
    wait_for("unhealthy", status_is(docker_cli, "slow", "unhealthy"))
    last = health(docker_cli, "slow")["Log"][0]
    assert last["ExitCode"] == -1
    assert last["Output"] == "Health check exceeded timeout (1s)"
    if RUNTIME != "process":  # the host-process runtime's exec is not in the container
        # The probe was killed: no sleep 10 outlives its timeout for long.
        def no_probe_left() -> bool:
            ps = run(docker_cli, "exec", "slow", "ps", check=False).stdout
            return "sleep 10" not in ps

        wait_for("the timed-out probe to be killed", no_probe_left, timeout=10)
    run(docker_cli, "rm", "-f", "slow")


def test_image_healthcheck_inherited_overridden_and_disabled(
    pouchd: PouchDaemon, docker_cli: tuple[str, dict[str, str]], registry: Any
) -> None:
    from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

    check = ImageHealthcheck(Test=["CMD-SHELL", "test -f /etc/passwd"], Interval=SECOND)
    config = msgspec.structs.replace(BUSYBOX_CONFIG, healthcheck=check)
    push_image_to_registry(registry.address, "hc/busybox", [busybox_layer_bytes()], config)
    image = f"{registry.address}/hc/busybox:latest"
    run(docker_cli, "pull", image)
    shown = json.loads(run(docker_cli, "image", "inspect", image).stdout)[0]["Config"]
    assert shown["Healthcheck"] == {"Test": check.Test, "Interval": SECOND}

    run(docker_cli, "run", "-d", "--name", "inherits", image, "sleep", "300")
    assert inspect(docker_cli, "inherits")["Config"]["Healthcheck"]["Test"] == check.Test
    wait_for("healthy by the image's check", status_is(docker_cli, "inherits", "healthy"))

    run(
        docker_cli,
        "run",
        "-d",
        "--name",
        "overrides",
        "--health-retries",
        "7",
        image,
        "sleep",
        "300",
    )
    merged = inspect(docker_cli, "overrides")["Config"]["Healthcheck"]
    assert (merged["Test"], merged["Interval"], merged["Retries"]) == (check.Test, SECOND, 7)

    run(docker_cli, "run", "-d", "--name", "disabled", "--no-healthcheck", image, "sleep", "300")
    disabled = inspect(docker_cli, "disabled")
    assert disabled["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert "Health" not in disabled["State"]
    time.sleep(1.5)
    assert "Health" not in inspect(docker_cli, "disabled")["State"]
    listed = run(docker_cli, "ps", "--filter", "health=none", "--format", "{{.Names}}").stdout
    assert listed.split() == ["disabled"]
    run(docker_cli, "rm", "-f", "inherits", "overrides", "disabled")


def test_probes_resume_after_pouchd_restarts(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
) -> None:
    run(
        docker_cli,
        "run",
        "-d",
        "--name",
        "lasting",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok; sleep 300",
    )
    wait_for("healthy", status_is(docker_cli, "lasting", "healthy"))
    restart_pouchd(pouchd)
    assert health(docker_cli, "lasting")["Status"] == "healthy"  # kept in the record
    restarted = time.time()
    run(docker_cli, "exec", "lasting", "rm", "/tmp/ok")
    wait_for("unhealthy after pouchd restarted", status_is(docker_cli, "lasting", "unhealthy"))
    last = health(docker_cli, "lasting")["Log"][-1]
    assert last["ExitCode"] == 1
    assert "(unhealthy)" in run(docker_cli, "ps").stdout
    assert time.time() - restarted < 30
    run(docker_cli, "rm", "-f", "lasting")


def test_docker_py_healthcheck_and_bad_input(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    docker_py = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")
    client = docker_py.DockerClient(base_url=pouchd.host, version="auto", timeout=60)
    container = client.containers.run(
        "busybox",
        ["sleep", "300"],
        detach=True,
        name="pyhc",
        healthcheck={"test": ["CMD", "true"], "interval": SECOND, "retries": 1},
    )

    def healthy() -> bool:
        container.reload()
        return bool(container.attrs["State"].get("Health", {}).get("Status") == "healthy")

    wait_for("healthy", healthy)
    container.remove(force=True)
    bad_values = [
        ({"test": ["CMD", "true"], "interval": 500}, "Healthcheck.Interval"),
        ({"test": ["CMD", "true"], "timeout": -SECOND}, "Healthcheck.Timeout"),
        ({"test": ["CMD", "true"], "retries": -1}, "Healthcheck.Retries"),
        ({"test": ["WHAT", "true"]}, "Healthcheck.Test"),
        ({"test": ["CMD"]}, "Healthcheck.Test"),
    ]
    for check, field in bad_values:
        with pytest.raises(docker_py.errors.APIError) as info:
            client.containers.create("busybox", ["true"], healthcheck=check)
        assert info.value.status_code == 400 and field in str(info.value), check
    assert client.containers.list(all=True) == []


COMPOSE_FILE = """\
version: "2.4"
services:
  web:
    image: busybox
    network_mode: none
    command: ["sh", "-c", "sleep 3; touch /tmp/ready; sleep 300"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 30
  app:
    image: busybox
    network_mode: none
    command: ["sleep", "300"]
    depends_on:
      web:
        condition: service_healthy
"""


def test_docker_compose_waits_for_a_healthy_service(
    pouchd: PouchDaemon,
    pouchd_busybox: str,
    docker_cli: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("needs docker-compose 1.x (apt-get install docker-compose)")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE)
    _, env = docker_cli
    command = [compose, "--project-directory", str(tmp_path), "-p", "hc"]
    command += ["-f", str(tmp_path / "docker-compose.yml")]
    try:
        up = subprocess.run(
            [*command, "up", "-d"], env=env, capture_output=True, text=True, timeout=120
        )
        assert up.returncode == 0, up.stdout + up.stderr
        web, app = inspect(docker_cli, "hc_web_1"), inspect(docker_cli, "hc_app_1")
        assert web["State"]["Health"]["Status"] == "healthy"
        # app started only once web was healthy (its first passing probe).
        passed = min(r["End"] for r in web["State"]["Health"]["Log"] if r["ExitCode"] == 0)
        assert app["State"]["StartedAt"] >= passed[:19]
    finally:
        subprocess.run(
            [*command, "down", "-t", "1"], env=env, capture_output=True, text=True, timeout=120
        )


@pytest.mark.parametrize("runtime", ["crun", "lxc"])
def test_probes_work_on_other_runtimes(
    pouchd: PouchDaemon,
    pouchd_busybox: str,
    docker_cli: tuple[str, dict[str, str]],
    runtime: str,
) -> None:
    if runtime not in pouchd.json("GET", "/info")["Runtimes"]:
        pytest.skip(f"the {runtime} runtime is not available here")
    name = f"hc-{runtime}"
    run(
        docker_cli,
        "run",
        "-d",
        "--runtime",
        runtime,
        "--name",
        name,
        "--health-cmd",
        "test -f /tmp/ok || (echo missing; exit 1)",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    )
    wait_for(f"unhealthy on {runtime}", status_is(docker_cli, name, "unhealthy"))
    assert health(docker_cli, name)["Log"][-1]["Output"] == "missing\n"
    run(docker_cli, "exec", name, "touch", "/tmp/ok")
    wait_for(f"healthy on {runtime}", status_is(docker_cli, name, "healthy"))
    run(docker_cli, "rm", "-f", name)


def test_a_timed_out_probe_is_killed_on_lxc(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
) -> None:
    if "lxc" not in pouchd.json("GET", "/info")["Runtimes"]:
        pytest.skip("the lxc runtime is not available here")
    run(
        docker_cli,
        "run",
        "-d",
        "--runtime",
        "lxc",
        "--name",
        "slow-lxc",
        "--health-cmd",
        "sleep 10",
        "--health-timeout",
        "1s",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    )
    wait_for("unhealthy", status_is(docker_cli, "slow-lxc", "unhealthy"))
    assert health(docker_cli, "slow-lxc")["Log"][0]["ExitCode"] == -1

    def no_probe_left() -> bool:
        return "sleep 10" not in run(docker_cli, "exec", "slow-lxc", "ps", check=False).stdout

    wait_for("the timed-out probe to be killed", no_probe_left, timeout=10)
    run(docker_cli, "rm", "-f", "slow-lxc")
