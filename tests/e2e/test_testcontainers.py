"""testcontainers-python against pouchd, as a test suite would use it.

Ryuk (testcontainers' reaper, an image from Docker Hub) is turned off: this
machine reaches no registry but its own; the fixture removes the containers.
"""

from __future__ import annotations

import urllib.request

import pytest

from pouch.testing.daemon import PouchDaemon

pytest.importorskip("testcontainers", reason="needs testcontainers (pip install testcontainers)")

SERVER = (
    "mkdir -p /www && echo hello-from-pouch > /www/index.html"
    " && echo server ready && exec httpd -f -p 8000 -h /www"
)


def test_a_container_with_an_exposed_port(
    pouchd: PouchDaemon, docker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("DOCKER_HOST", "DOCKER_CONFIG"):
        monkeypatch.setenv(key, docker_env[key])
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = DockerContainer("busybox").with_command(["sh", "-c", SERVER])
    container.with_exposed_ports(8000).waiting_for(LogMessageWaitStrategy("server ready"))
    with container:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(8000))
        with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=10) as reply:
            assert reply.read() == b"hello-from-pouch\n"
        code, output = container.exec(["cat", "/www/index.html"])
        assert (code, output) == (0, b"hello-from-pouch\n")
    assert pouchd.json("GET", "/containers/json", query={"all": "1"}) == []
