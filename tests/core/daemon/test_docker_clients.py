"""Real clients against a real pouchd: Debian's docker CLI and docker-py.

The docker CLI (package docker.io) is used as a client only; no dockerd runs.
The containers are real: runc under conmon where the host has them (root,
runc, conmon), else the host-process test runtime, and then the tests that
need a container's stdin or terminal skip saying why.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from typing import Any

import pytest

from pouch.testing.daemon import PouchDaemon, preferred_runtime
from pouch.testing.images import BUSYBOX_CONFIG

docker_py = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")

RUNTIME, NO_RUNC = preferred_runtime()
needs_runc = pytest.mark.skipif(
    RUNTIME != "runc", reason=f"stdin and terminals need the runc runtime: {NO_RUNC}"
)


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


def test_docker_cli(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
) -> None:
    version = run(docker_cli, "version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}")
    assert version.stdout.split() == ["1.41", "linux"]
    info = run(docker_cli, "info", "--format", "{{.DefaultRuntime}}")
    assert info.stdout.strip() == pouchd.runtime
    assert "busybox" in run(docker_cli, "images").stdout
    attached = run(docker_cli, "run", "--rm", "busybox", "echo", "hi")
    assert attached.stdout == "hi\n"
    assert run(docker_cli, "run", "busybox", "sh", "-c", "exit 7", check=False).returncode == 7
    cid = run(
        docker_cli, "run", "-d", "--name", "web", "busybox", "sh", "-c", "echo up; sleep 60"
    ).stdout.strip()
    assert len(cid) == 64
    assert "web" in run(docker_cli, "ps").stdout
    deadline = time.monotonic() + 10
    while run(docker_cli, "logs", "web").stdout != "up\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run(docker_cli, "exec", "web", "echo", "from-exec").stdout == "from-exec\n"
    assert run(docker_cli, "exec", "web", "sh", "-c", "exit 4", check=False).returncode == 4
    inspected = run(docker_cli, "inspect", "--format", "{{.State.Status}} {{.Name}}", "web")
    assert inspected.stdout.split() == ["running", "/web"]
    assert run(docker_cli, "stop", "-t", "1", "web").stdout.strip() == "web"
    assert "Exited" in run(docker_cli, "ps", "-a").stdout
    assert run(docker_cli, "rm", "web").stdout.strip() == "web"
    run(docker_cli, "tag", "busybox", "mine:1")
    assert "Untagged: mine:1" in run(docker_cli, "rmi", "mine:1").stdout
    missing = run(docker_cli, "inspect", "nothing-here", check=False)
    assert missing.returncode != 0 and "nothing-here" in missing.stderr


@needs_runc
def test_docker_run_with_stdin_and_a_terminal(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
) -> None:
    binary, env = docker_cli
    isolated = run(docker_cli, "run", "--rm", "busybox", "sh", "-c", "echo $$; hostname")
    pid, hostname = isolated.stdout.split()
    assert pid == "1" and hostname != os.uname().nodename  # a container, not a host process
    piped = subprocess.run(
        [binary, "run", "-i", "--rm", "busybox", "sh"],
        input="echo hi; exit 3\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (piped.returncode, piped.stdout) == (3, "hi\n"), piped.stderr
    # The docker CLI of API 1.41 sends the terminal's size only once the
    # container runs (a resize after start), so the shell waits until it has
    # one (busybox's stty prints nothing on stdout while the size is 0x0).
    script = (
        'for i in $(seq 50); do s="$(stty size 2>/dev/null)"; [ -n "$s" ] && break; '
        'sleep 0.1; done; echo "$s"; exit 2'
    )
    code, output = run_in_terminal(
        [binary, "run", "-it", "--rm", "busybox", "sh", "-c", script], env, rows=30, cols=100
    )
    assert (code, output.strip()) == (2, b"30 100")
    assert run(docker_cli, "ps", "-aq").stdout == ""  # --rm removed them all


def run_in_terminal(
    argv: list[str], env: dict[str, str], *, rows: int, cols: int, timeout: float = 60
) -> tuple[int, bytes]:
    """Run ``argv`` with a pseudo-terminal of that size as stdin, stdout and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    try:
        process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
    finally:
        os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal has gone
                break
            if not chunk:
                break
            output += chunk
        return process.wait(timeout=max(1.0, deadline - time.monotonic())), output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def test_docker_cli_pulls_from_a_registry(
    pouchd: PouchDaemon, docker_cli: tuple[str, dict[str, str]], registry: Any
) -> None:
    from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

    push_image_to_registry(
        registry.address, "tools/busybox", [busybox_layer_bytes()], BUSYBOX_CONFIG
    )
    reference = f"{registry.address}/tools/busybox:latest"
    pulled = run(docker_cli, "pull", reference)
    assert "Downloaded newer image" in pulled.stdout or "up to date" in pulled.stdout
    assert run(docker_cli, "run", "--rm", reference, "echo", "pulled").stdout == "pulled\n"
    missing = run(docker_cli, "pull", f"{registry.address}/tools/nothing:1", check=False)
    assert missing.returncode != 0
    assert "Untagged" in run(docker_cli, "rmi", reference).stdout


def test_docker_py(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    client = docker_py.DockerClient(base_url=pouchd.host, version="auto", timeout=60)
    assert client.version()["ApiVersion"] == "1.41"
    assert client.containers.run("busybox", ["echo", "hello"], remove=True) == b"hello\n"
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo one; sleep 60"], detach=True, name="py"
    )
    assert [c.name for c in client.containers.list()] == ["py"]
    deadline = time.monotonic() + 10
    while container.logs() != b"one\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert container.exec_run(["echo", "exec-out"]) == (0, b"exec-out\n")
    code, (out, err) = container.exec_run(["sh", "-c", "echo a; echo b >&2; exit 3"], demux=True)
    assert (code, out, err) == (3, b"a\n", b"b\n")
    container.stop(timeout=1)
    assert container.wait()["StatusCode"] != 0
    container.remove()
    assert client.containers.list(all=True) == []
    with pytest.raises(docker_py.errors.NotFound):
        client.containers.get("py")
    with pytest.raises(docker_py.errors.APIError) as info:
        client.containers.create("busybox", ["true"], mem_limit="1k")
    assert info.value.status_code == 400 and "Memory" in str(info.value)


def test_docker_py_pulls(pouchd: PouchDaemon, registry: Any) -> None:
    from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

    push_image_to_registry(registry.address, "py/busybox", [busybox_layer_bytes()], BUSYBOX_CONFIG)
    client = docker_py.DockerClient(base_url=pouchd.host, version="auto", timeout=60)
    image = client.images.pull(f"{registry.address}/py/busybox", tag="latest")
    assert f"{registry.address}/py/busybox:latest" in image.tags
    with pytest.raises(docker_py.errors.NotFound):
        client.images.pull(f"{registry.address}/py/nothing", tag="1")


def test_docker_save_and_load(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]], tmp_path: Any
) -> None:
    archive = tmp_path / "busybox.tar"
    run(docker_cli, "save", "-o", str(archive), "busybox")
    assert archive.stat().st_size > 100_000
    run(docker_cli, "rmi", "busybox")
    assert "Loaded image: busybox:latest" in run(docker_cli, "load", "-i", str(archive)).stdout
    assert run(docker_cli, "run", "--rm", "busybox", "echo", "loaded").stdout == "loaded\n"
    missing = run(docker_cli, "save", "-o", str(tmp_path / "x.tar"), "nothing:1", check=False)
    assert missing.returncode != 0
