"""What scripts rely on from dockerd, through the docker CLI and docker-py: exec exit codes
and messages, kill waiting for the exit, top listing only the container, error texts."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

from pouch.testing.daemon import PouchDaemon

Docker = Callable[..., subprocess.CompletedProcess[str]]


def test_exec_of_a_missing_or_unrunnable_command(docker: Docker) -> None:
    docker("run", "-d", "--name", "box", "busybox", "sleep", "60")
    missing = docker("exec", "box", "no-such-command", check=False)
    assert missing.returncode == 127
    assert 'exec: "no-such-command": executable file not found in $PATH' in (
        missing.stdout + missing.stderr
    )
    denied = docker("exec", "box", "/etc/passwd", check=False)
    assert denied.returncode == 126 and "permission denied" in denied.stdout + denied.stderr
    assert docker("exec", "box", "sh", "-c", "exit 3", check=False).returncode == 3


def test_clients_that_stop_reading_leave_pouchd_serving(
    docker: Docker, docker_env: dict[str, str]
) -> None:
    docker("run", "-d", "--name", "talker", "busybox", "sleep", "60")
    binary = docker("version", "--format", "{{.Client.Version}}").args[0]
    for command in (
        "exec talker seq 1 300000",
        "export talker",
        "save busybox",
        "run -i --rm busybox seq 1 300000 < /dev/null",  # more than the socket buffers
    ):
        cut = subprocess.run(
            f"{binary} {command} | head -c 100 > /dev/null",
            shell=True, env=docker_env, timeout=60, check=False,
        )  # fmt: skip
        assert cut.returncode == 0
        assert docker("inspect", "-f", "{{.State.Status}}", "talker").stdout == "running\n"
    # With stdin attached, all of a large output arrives and the container ends.
    whole = subprocess.run(
        f"{binary} run -i --rm busybox seq 1 300000 < /dev/null | tail -n 1",
        shell=True, env=docker_env, timeout=60, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert whole.stdout == "300000\n", whole.stderr


def test_exec_inspect_through_docker_py(pouchd: PouchDaemon, docker: Docker) -> None:
    import docker as docker_py  # type: ignore[import-untyped]

    docker("run", "-d", "--name", "box", "busybox", "sleep", "60")
    client = docker_py.DockerClient(base_url=pouchd.host)
    try:
        api = client.api
        exec_id = api.exec_create("box", ["sh", "-c", "echo out; echo err >&2"], tty=True)["Id"]
        output = api.exec_start(exec_id, tty=True)
        assert output.replace(b"\r\n", b"\n") == b"out\nerr\n"
        found = api.exec_inspect(exec_id)
        assert found["ProcessConfig"]["tty"] is True and found["Running"] is False
        assert found["ExitCode"] == 0
        code, _ = client.containers.get("box").exec_run("sh -c 'exit 5'")
        assert code == 5
    finally:
        client.close()


def test_kill_returns_once_the_container_is_dead(docker: Docker) -> None:
    docker("run", "-d", "--name", "victim", "busybox", "sleep", "300")
    docker("kill", "victim")
    state = json.loads(docker("inspect", "victim").stdout)[0]["State"]
    assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 137, False)


def test_top_lists_only_the_containers_processes(docker: Docker) -> None:
    docker("run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 301 & exec sleep 302")
    docker("exec", "-d", "busy", "sleep", "303")
    for _ in range(50):  # the detached exec runs a moment after docker returns
        listing = docker("top", "busy").stdout
        lines = listing.splitlines()
        assert lines[0].split()[:2] == ["UID", "PID"]
        commands = sorted(line.split(None, 7)[7] for line in lines[1:])
        if "sleep 303" in commands:
            break
        time.sleep(0.1)
    assert commands == ["sleep 301", "sleep 302", "sleep 303"], listing
    custom = docker("top", "busy", "-o", "pid,args").stdout.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"] and len(custom) == 4, custom
    docker("rm", "-f", "busy")


def test_error_texts_as_dockerd_words_them(docker: Docker) -> None:
    docker("run", "-d", "--name", "running", "busybox", "sleep", "60")
    cid = docker("inspect", "--format", "{{.Id}}", "running").stdout.strip()
    refused = docker("rm", "running", check=False)
    assert f"You cannot remove a running container {cid}" in refused.stderr
    taken = docker("create", "--name", "running", "busybox", check=False)
    assert f'The container name "/running" is already in use by container "{cid}"' in (taken.stderr)
    assert "No such container: ghost" in docker("rm", "ghost", check=False).stderr
    assert "No such image: ghost:1" in docker("rmi", "ghost:1", check=False).stderr
