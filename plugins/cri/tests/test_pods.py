"""Pods as kubelet runs them, through the CRI on a real pouchd: runc containers
on a CNI bridge with host ports, the pause process holding the namespaces,
logs at the kubelet's path, exec, attach and port-forward over SPDY and
WebSocket, a pouchd killed with -9 and restarted, and what bad requests get.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import grpc
import pytest
from pouch_cri._pb import api_pb2 as pb
from pouch_cri.streamclient import spdy_exec, spdy_port_forward, websocket_exec

from pouch.testing.daemon import (
    PouchDaemon,
    cni_bridge_settings,
    preferred_runtime,
    start_pouchd,
)

HTTPD = (
    "mkdir -p /www && echo served-by-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"
)
TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


@pytest.fixture
def pouch_runtime() -> str:
    runtime, why = preferred_runtime()
    if runtime != "runc":
        pytest.skip(f"pods need runc containers: {why}")
    return runtime


@pytest.fixture
def pouchd_settings(default_bridge: str) -> dict[str, object]:
    return {**cni_bridge_settings(default_bridge), "plugins": {"enable": ["cri", "runc", "cni"]}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pods:
    """Making pods and containers the way kubelet asks for them."""

    def __init__(self, runtime: Any, logs: Path) -> None:
        self.runtime = runtime
        self.logs = logs

    def config(self, name: str, **extra: Any) -> pb.PodSandboxConfig:
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="test"),
            hostname=name,
            log_directory=str(self.logs / name),
            labels={"app": name},
            annotations={"note": f"pod {name}"},
            **extra,
        )
        return config

    def run(self, name: str, **extra: Any) -> tuple[str, pb.PodSandboxConfig]:
        config = self.config(name, **extra)
        reply = self.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config), timeout=60)
        return reply.pod_sandbox_id, config

    def container(
        self, pod: str, config: pb.PodSandboxConfig, name: str, script: str, **extra: Any
    ) -> str:
        request = pb.CreateContainerRequest(
            pod_sandbox_id=pod,
            sandbox_config=config,
            config=pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=name),
                image=pb.ImageSpec(image="busybox"),
                command=["sh", "-c", script],
                log_path=f"{name}.log",
                labels={"container": name},
                **extra,
            ),
        )
        container = self.runtime.CreateContainer(request, timeout=60).container_id
        self.runtime.StartContainer(pb.StartContainerRequest(container_id=container), timeout=60)
        return str(container)

    def exec(self, container: str, *cmd: str) -> tuple[int, str]:
        reply = self.runtime.ExecSync(
            pb.ExecSyncRequest(container_id=container, cmd=list(cmd), timeout=20), timeout=30
        )
        return reply.exit_code, reply.stdout.decode() + reply.stderr.decode()

    def status(self, container: str) -> Any:
        request = pb.ContainerStatusRequest(container_id=container)
        return self.runtime.ContainerStatus(request, timeout=10).status

    def pod(self, pod: str) -> Any:
        request = pb.PodSandboxStatusRequest(pod_sandbox_id=pod)
        return self.runtime.PodSandboxStatus(request, timeout=10).status

    def remove(self, pod: str) -> None:
        self.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        self.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)


@pytest.fixture
def pods(runtime: Any, pouchd_busybox: str, tmp_path: Path) -> Iterator[Pods]:
    made = Pods(runtime, tmp_path / "logs")
    yield made
    listed = runtime.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=30, wait_for_ready=True)
    for item in listed.items:
        made.remove(item.id)


def _until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode())


def _pouch_ps(pouchd: PouchDaemon) -> list[dict[str, Any]]:
    return list(pouchd.json("GET", "/containers/json", query={"all": "1"}))


def test_a_pod_from_run_to_remove(pods: Pods, runtime: Any, pouchd: PouchDaemon) -> None:
    port = _free_port()
    mapping = pb.PortMapping(container_port=8080, host_port=port)
    dns = pb.DNSConfig(servers=["10.0.0.53"], searches=["pods.test"])
    pod, config = pods.run("web", port_mappings=[mapping], dns_config=dns)
    again, _ = pods.run("web", port_mappings=[mapping], dns_config=dns)
    assert again == pod  # the same metadata answers the same pod
    status = pods.pod(pod)
    assert status.state == pb.SANDBOX_READY and status.metadata.name == "web"
    assert status.network.ip.startswith("10.231.")
    assert dict(status.labels) == {"app": "web"} and status.annotations["note"] == "pod web"
    listed = runtime.ListPodSandbox(
        pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={"app": "web"}))
    ).items
    assert [p.id for p in listed] == [pod]

    httpd = pods.container(pod, config, "httpd", HTTPD)
    ticker = pods.container(pod, config, "ticker", TICKER)
    # A pod's containers are pouch containers, with their labels, in pouch ps.
    names = {c["Id"]: c for c in _pouch_ps(pouchd)}
    assert names[httpd]["Labels"]["container"] == "httpd" and pod in names
    # The pod's namespaces: one hostname, one IPC, the pause process as PID 1.
    assert pods.exec(ticker, "hostname") == (0, "web\n")
    assert pods.exec(ticker, "cat", "/proc/1/cmdline") == (0, "/pause\0")
    pods.exec(ticker, "sh", "-c", "echo shared > /dev/shm/mark")
    assert pods.exec(httpd, "cat", "/dev/shm/mark") == (0, "shared\n")
    _, resolv = pods.exec(ticker, "cat", "/etc/resolv.conf")
    assert "nameserver 10.0.0.53" in resolv and "search pods.test" in resolv
    # The pod answers on its IP and on the host port.
    _until(lambda: pods.exec(ticker, "wget", "-qO-", "http://127.0.0.1:8080/")[0] == 0, "httpd")
    assert _get(f"http://127.0.0.1:{port}/") == "served-by-web\n"
    # Logs in the CRI format, at log_directory/log_path.
    log = Path(config.log_directory) / "ticker.log"
    assert pods.status(ticker).log_path == str(log)
    _until(lambda: log.exists() and "tick 2" in log.read_text(), "the ticker's log")
    stamp, stream, tag, text = log.read_text().splitlines()[0].split(" ", 3)
    assert (stream, tag, text) == ("stdout", "F", "tick 0") and stamp[:2] == "20"
    # Log rotation as kubelet does it: rename, reopen; the new file is there at once.
    log.rename(log.with_name("ticker.log.1"))
    runtime.ReopenContainerLog(pb.ReopenContainerLogRequest(container_id=ticker))
    assert log.exists()
    _until(lambda: "tick" in log.read_text(), "ticks in the reopened log")
    # ExecSync: output, exit code, and a timeout that kills the command.
    assert pods.exec(ticker, "sh", "-c", "echo out; echo err >&2; exit 3") == (3, "out\nerr\n")
    with pytest.raises(grpc.RpcError) as caught:
        runtime.ExecSync(pb.ExecSyncRequest(container_id=ticker, cmd=["sleep", "30"], timeout=1))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "sleep 30" not in pods.exec(ticker, "ps")[1]
    # New limits for a running container, seen in its cgroup (v1 or v2).
    limits = pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_shares=512)
    runtime.UpdateContainerResources(
        pb.UpdateContainerResourcesRequest(container_id=ticker, linux=limits)
    )
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"
        " || cat /sys/fs/cgroup/memory.max"
    )
    assert pods.exec(ticker, "sh", "-c", script) == (0, f"{64 << 20}\n")
    # Stats from the cgroups.
    stats = runtime.ContainerStats(pb.ContainerStatsRequest(container_id=ticker)).stats
    assert stats.cpu.usage_core_nano_seconds.value > 0
    assert stats.memory.working_set_bytes.value > 0
    pod_stats = runtime.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=pod)).stats
    assert len(pod_stats.linux.containers) == 2
    assert pod_stats.linux.network.default_interface.rx_bytes.value > 0

    runtime.StopContainer(pb.StopContainerRequest(container_id=ticker, timeout=2))
    stopped = pods.status(ticker)
    assert stopped.state == pb.CONTAINER_EXITED and stopped.finished_at >= stopped.started_at > 0
    assert stopped.reason == "Error" and stopped.exit_code == 143  # SIGTERM: sh is not PID 1
    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod))
    assert pods.pod(pod).state == pb.SANDBOX_NOTREADY
    assert pods.status(httpd).state == pb.CONTAINER_EXITED
    netns = (
        list((pouchd.run_root / "netns").glob("*")) if (pouchd.run_root / "netns").exists() else []
    )
    assert netns == []
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
    assert runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []
    assert runtime.ListContainers(pb.ListContainersRequest()).containers == []
    assert _pouch_ps(pouchd) == []
    # Stopping and removing what is gone succeeds.
    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod))
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
    runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=ticker))


def test_streaming_over_spdy_and_websocket(pods: Pods, runtime: Any) -> None:
    pod, config = pods.run("stream")
    httpd = pods.container(pod, config, "httpd", HTTPD)
    shell = pods.container(pod, config, "shell", "exec sh", stdin=True, tty=True)

    def exec_url(container: str, *cmd: str, **options: bool) -> str:
        request = pb.ExecRequest(container_id=container, cmd=list(cmd), **options)
        return str(runtime.Exec(request, timeout=10).url)

    async def sessions() -> None:
        script = "cat; echo to-stderr >&2; exit 4"
        url = exec_url(httpd, "sh", "-c", script, stdin=True, stdout=True, stderr=True)
        assert url.startswith("http://127.0.0.1:")
        result = await spdy_exec(url, stdin=b"to-stdin\n")
        assert (result.stdout, result.stderr, result.exit_code) == (
            b"to-stdin\n",
            b"to-stderr\n",
            4,
        )
        assert result.protocol == "v4.channel.k8s.io"
        # A terminal, with the size the client sends.
        url = exec_url(httpd, "stty", "size", tty=True, stdout=True)
        result = await spdy_exec(url, tty=True, size=(101, 33))
        assert (result.stdout, result.exit_code) == (b"33 101\r\n", 0)
        # An older client (v2) still gets its output and a success.
        url = exec_url(httpd, "echo", "v2", stdout=True, stderr=True)
        result = await spdy_exec(url, protocols=["v2.channel.k8s.io"])
        assert (result.stdout, result.exit_code) == (b"v2\n", 0)
        # WebSocket v5 (stdin closed with [255, 0]) and v4.
        url = exec_url(httpd, "sh", "-c", "cat; exit 2", stdin=True, stdout=True, stderr=True)
        result = await websocket_exec(url, stdin=b"over-ws\n")
        assert (result.stdout, result.exit_code) == (b"over-ws\n", 2)
        url = exec_url(httpd, "hostname", stdout=True, stderr=True)
        result = await websocket_exec(url, protocol="v4.channel.k8s.io")
        assert (result.stdout, result.exit_code) == (b"stream\n", 0)
        # Attach to a shell on a terminal: input in, output out, its exit ends it.
        request = pb.AttachRequest(container_id=shell, stdin=True, tty=True, stdout=True)
        url = runtime.Attach(request, timeout=10).url
        result = await spdy_exec(url, stdin=b"echo attached-$((6*7))\nexit 5\n", tty=True)
        assert b"attached-42" in result.stdout
        # Port forwarding into the pod's namespace.
        forward = pb.PortForwardRequest(pod_sandbox_id=pod, port=[8080, 8099])
        url = runtime.PortForward(forward, timeout=10).url
        _until(lambda: pods.exec(httpd, "wget", "-qO-", "127.0.0.1:8080")[0] == 0, "httpd")
        answer = await spdy_port_forward(url, 8080, b"GET / HTTP/1.0\r\n\r\n")
        assert answer.endswith(b"served-by-stream\n")
        url = runtime.PortForward(forward, timeout=10).url
        with pytest.raises(ConnectionError, match="refused"):
            await spdy_port_forward(url, 8099, b"nothing listens")
        # A URL serves one session.
        with pytest.raises(ConnectionError, match="404"):
            await spdy_port_forward(url, 8080, b"again")

    anyio.run(sessions)
    _until(lambda: pods.status(shell).state == pb.CONTAINER_EXITED, "the shell's exit")
    assert pods.status(shell).exit_code == 5


def test_bad_requests_name_the_field(pods: Pods, runtime: Any) -> None:
    def code(call: Callable[[], object]) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        return caught.value.code()  # type: ignore[no-any-return]

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    nameless = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(uid="u", namespace="n"))
    assert code(lambda: runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=nameless))) == invalid
    config = pods.config("bad")
    assert (
        code(
            lambda: runtime.RunPodSandbox(
                pb.RunPodSandboxRequest(config=config, runtime_handler="no-such-runtime")
            )
        )
        == invalid
    )
    missing = grpc.StatusCode.NOT_FOUND
    assert code(lambda: pods.pod("0" * 64)) == missing
    assert code(lambda: pods.status("0" * 64)) == missing
    pod, config = pods.run("good")
    bad_mount = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="c"),
        image=pb.ImageSpec(image="busybox"),
        mounts=[pb.Mount(container_path="relative", host_path="/tmp")],
    )
    request = pb.CreateContainerRequest(pod_sandbox_id=pod, config=bad_mount, sandbox_config=config)
    assert code(lambda: runtime.CreateContainer(request)) == invalid
    no_image = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="c"))
    request = pb.CreateContainerRequest(pod_sandbox_id=pod, config=no_image, sandbox_config=config)
    assert code(lambda: runtime.CreateContainer(request)) == invalid
    ticker = pods.container(pod, config, "t", TICKER)
    assert code(lambda: runtime.Exec(pb.ExecRequest(container_id=ticker, cmd=["ls"]))) == invalid
    assert [c.id for c in runtime.ListContainers(pb.ListContainersRequest()).containers] == [ticker]


def test_pods_survive_a_killed_pouchd(
    pods: Pods, runtime: Any, pouchd: PouchDaemon, default_bridge: str, channel: grpc.Channel
) -> None:
    made = {}
    for name in ("one", "two"):
        pod, config = pods.run(name)
        made[name] = (pod, pods.container(pod, config, "ticker", TICKER), config)
    ips = {name: pods.pod(pod).network.ip for name, (pod, _, _) in made.items()}
    assert pouchd.process is not None
    os.kill(pouchd.process.pid, signal.SIGKILL)
    pouchd.process.wait(timeout=10)
    pouchd.process = None
    start_pouchd(pouchd)
    grpc.channel_ready_future(channel).result(timeout=30)
    for name, (pod, ticker, config) in made.items():
        _until(lambda pod=pod: _ready(runtime, pod), f"pod {name} after the restart")
        assert pods.pod(pod).network.ip == ips[name]
        assert pods.status(ticker).state == pb.CONTAINER_RUNNING
        log = Path(config.log_directory) / "ticker.log"
        lines = len(log.read_text().splitlines())
        _until(lambda log=log, lines=lines: len(log.read_text().splitlines()) > lines + 2, "logs")
        assert pods.exec(ticker, "echo", "alive") == (0, "alive\n")
    for pod, _, _ in made.values():
        pods.remove(pod)
    assert runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items == []
    # Nothing of the pods is left: no pause process, namespace, veth or address.
    leftovers = subprocess.run(["pgrep", "-f", "^/pause$"], capture_output=True, text=True)
    ours = [pid for pid in leftovers.stdout.split() if _in_root(int(pid), pouchd)]
    assert ours == []
    assert list(pouchd.run_root.glob("netns/*")) == []
    veths = subprocess.run(
        ["ip", "-o", "link", "show", "master", default_bridge], capture_output=True, text=True
    )
    assert veths.stdout.strip() == ""
    leased = {p.name for p in pouchd.root.glob("cni/networks/*/*")}
    assert not leased & set(ips.values())


def _ready(runtime: Any, pod: str) -> bool:
    request = pb.PodSandboxStatusRequest(pod_sandbox_id=pod)
    return bool(runtime.PodSandboxStatus(request, timeout=10).status.state == pb.SANDBOX_READY)


def _in_root(pid: int, pouchd: PouchDaemon) -> bool:
    try:
        return str(pouchd.root) in Path(f"/proc/{pid}/root").resolve().as_posix()
    except OSError:
        return False


def test_status_info_is_json(pods: Pods, runtime: Any) -> None:
    pod, _ = pods.run("info")
    request = pb.PodSandboxStatusRequest(pod_sandbox_id=pod, verbose=True)
    info = json.loads(runtime.PodSandboxStatus(request).info["info"])
    assert info["pid"] > 0 and info["runtime"] == "runc"
