"""Containers through the API of a real pouchd: lifecycle, logs, attach, exec, wait, restarts.

Every test runs on the host-process test runtime and, where this host can run
it (root, runc, conmon), on runc too.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

import pytest

from pouch.testing.daemon import (
    PouchDaemon,
    preferred_runtime,
    restart_pouchd,
    start_pouchd,
    stop_pouchd,
)

_RUNTIMES = sorted({"process", preferred_runtime()[0]}, key=lambda name: name != "process")


@pytest.fixture(params=_RUNTIMES)
def pouch_runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def create(pouchd: PouchDaemon, cmd: list[str], **extra: Any) -> str:
    body = {"Image": "busybox", "Cmd": cmd, **extra}
    return str(pouchd.json("POST", "/containers/create", body)["Id"])


def demux(data: bytes) -> list[tuple[int, bytes]]:
    frames = []
    while data:
        kind, size = struct.unpack(">BxxxL", data[:8])
        frames.append((kind, data[8 : 8 + size]))
        data = data[8 + size :]
    return frames


def hijack(
    pouchd: PouchDaemon, path: str, *, upgrade: bool = True, body: bytes = b""
) -> tuple[bytes, socket.socket]:
    """Send a request by hand; (the response head, the socket positioned after it)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(pouchd.socket))
    head = f"POST {path} HTTP/1.1\r\nHost: pouch\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    sock.sendall(head.encode() + b"\r\n" + body)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(1)
        assert chunk, received
        received += chunk
    return received, sock


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


def test_lifecycle_and_docker_shapes(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    cid = create(pouchd, ["sh", "-c", "echo out; echo err >&2; sleep 60"], Labels={"app": "t"})
    info = pouchd.json("GET", f"/containers/{cid[:12]}/json")
    assert info["State"]["Status"] == "created" and info["Name"].startswith("/")
    assert info["Config"]["Labels"] == {"app": "t"} and info["Created"].endswith("Z")
    assert pouchd.request("POST", f"/containers/{cid}/start")[0] == 204
    assert pouchd.request("POST", f"/containers/{cid}/start")[0] == 304
    info = pouchd.json("GET", f"/containers/{cid}/json")
    assert info["State"]["Running"] and info["State"]["Pid"] > 0
    assert info["Path"] == "sh" and info["Args"][0] == "-c"
    listed = pouchd.json("GET", "/containers/json", query={"filters": '{"label":["app=t"]}'})
    assert [c["Id"] for c in listed] == [cid] and listed[0]["Status"].startswith("Up")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, _, body = pouchd.request(
            "GET", f"/containers/{cid}/logs", query={"stdout": 1, "stderr": 1}
        )
        if len(demux(body)) == 2:
            break
        time.sleep(0.1)
    assert sorted(demux(body)) == [(1, b"out\n"), (2, b"err\n")]
    _, _, body = pouchd.request(
        "GET", f"/containers/{cid}/logs", query={"stdout": 1, "timestamps": 1}
    )
    assert demux(body)[0][1].split(b" ", 1)[1] == b"out\n"
    assert pouchd.request("POST", f"/containers/{cid}/stop", query={"t": 1})[0] == 204
    assert pouchd.request("POST", f"/containers/{cid}/stop")[0] == 304
    info = pouchd.json("GET", f"/containers/{cid}/json")
    assert (
        info["State"]["Status"] == "exited"
        and info["State"]["FinishedAt"] != "0001-01-01T00:00:00Z"
    )
    assert pouchd.request("DELETE", f"/containers/{cid}")[0] == 204
    assert pouchd.request("GET", f"/containers/{cid}/json")[0] == 404


def test_attach_before_start_sees_the_output(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    cid = create(pouchd, ["sh", "-c", "echo hello; echo oops >&2"])
    head, sock = hijack(pouchd, f"/v1.41/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED") and b"api-version: 1.41" in head.lower()
    assert pouchd.request("POST", f"/containers/{cid}/start")[0] == 204
    frames = demux(read_all(sock))
    assert sorted(frames) == [(1, b"hello\n"), (2, b"oops\n")]
    waited = pouchd.json("POST", f"/containers/{cid}/wait")
    assert waited == {"StatusCode": 0, "Error": None}


def test_attach_without_upgrade_and_with_stdin(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    cid = create(pouchd, ["sh", "-c", "sleep 0.5; echo done"], OpenStdin=True)
    head, sock = hijack(
        pouchd, f"/containers/{cid}/attach?stream=1&stdout=1&stdin=1", upgrade=False
    )
    assert head.startswith(b"HTTP/1.1 200 OK")
    pouchd.request("POST", f"/containers/{cid}/start")
    sock.sendall(b"ignored when the runtime has no stdin\n")
    sock.shutdown(socket.SHUT_WR)
    assert demux(read_all(sock)) == [(1, b"done\n")]


def test_wait_for_the_next_exit_and_for_removal(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    cid = create(pouchd, ["sh", "-c", "exit 3"], HostConfig={"AutoRemove": True})
    assert pouchd.json("GET", f"/containers/{cid}/json")["HostConfig"]["AutoRemove"] is True
    # The headers come at once (docker run starts the container only then).
    head, sock = hijack(pouchd, f"/containers/{cid}/wait?condition=removed", upgrade=False)
    assert b" 200 " in head.split(b"\r\n")[0]
    assert pouchd.request("POST", f"/containers/{cid}/start")[0] == 204
    raw = b""
    while not raw.endswith(b"0\r\n\r\n"):
        raw += sock.recv(65536)
    sock.close()
    assert b'"StatusCode":3' in raw
    deadline = time.monotonic() + 10
    while pouchd.request("GET", f"/containers/{cid}/json")[0] != 404:
        assert time.monotonic() < deadline, "the AutoRemove container was not removed"
        time.sleep(0.1)


def test_exec_sessions(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    cid = create(pouchd, ["sleep", "60"])
    body = {
        "Cmd": ["sh", "-c", "echo in; echo e >&2; exit 5"],
        "AttachStdout": True,
        "AttachStderr": True,
    }
    status, _, _ = pouchd.request("POST", f"/containers/{cid}/exec", json.dumps(body).encode())
    assert status == 409  # not running yet
    pouchd.request("POST", f"/containers/{cid}/start")
    exec_id = pouchd.json("POST", f"/containers/{cid}/exec", body)["Id"]
    before = pouchd.json("GET", f"/exec/{exec_id}/json")
    assert before["Running"] is False and before["ExitCode"] is None
    head, sock = hijack(pouchd, f"/exec/{exec_id}/start", body=b'{"Detach": false, "Tty": false}')
    assert head.startswith(b"HTTP/1.1 101")
    assert sorted(demux(read_all(sock))) == [(1, b"in\n"), (2, b"e\n")]
    after = pouchd.json("GET", f"/exec/{exec_id}/json")
    assert after["ExitCode"] == 5 and after["Running"] is False and after["ContainerID"] == cid
    status = pouchd.request("POST", f"/exec/{exec_id}/start", b"{}")[0]
    assert status == 409
    detached = pouchd.json("POST", f"/containers/{cid}/exec", {"Cmd": ["true"]})["Id"]
    pouchd.request("POST", f"/exec/{detached}/start", b'{"Detach": true}')
    deadline = time.monotonic() + 10
    while pouchd.json("GET", f"/exec/{detached}/json")["ExitCode"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    top = pouchd.json("GET", f"/containers/{cid}/top")
    assert "PID" in top["Titles"] and top["Processes"]
    stats = pouchd.json("GET", f"/containers/{cid}/stats", query={"stream": 0, "one-shot": 1})
    assert stats["id"] == cid and stats["memory_stats"]["usage"] > 0
    pouchd.request("DELETE", f"/containers/{cid}", query={"force": 1})


def test_state_operations(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    cid = create(pouchd, ["sleep", "60"])
    status = pouchd.request("POST", f"/containers/{cid}/rename", query={"name": "renamed"})[0]
    assert status == 204 and pouchd.json("GET", "/containers/renamed/json")["Id"] == cid
    update = {
        "Memory": 64 * 1024 * 1024,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
    }
    pouchd.json("POST", f"/containers/{cid}/update", update)
    host = pouchd.json("GET", f"/containers/{cid}/json")["HostConfig"]
    assert host["Memory"] == 64 * 1024 * 1024 and host["RestartPolicy"]["Name"] == "on-failure"
    pouchd.request("POST", f"/containers/{cid}/start")
    assert pouchd.request("POST", f"/containers/{cid}/pause")[0] == 204
    assert pouchd.json("GET", f"/containers/{cid}/json")["State"]["Paused"] is True
    assert pouchd.request("POST", f"/containers/{cid}/unpause")[0] == 204
    status, _, body = pouchd.request("DELETE", f"/containers/{cid}")
    assert status == 409 and "You cannot remove a running container" in json.loads(body)["message"]
    status = pouchd.request("POST", f"/containers/{cid}/kill", query={"signal": "SIGNOPE"})[0]
    assert status == 400
    # A stop by the user is not a failure to restart from (a kill would be).
    assert pouchd.request("POST", f"/containers/{cid}/stop", query={"t": 1})[0] == 204
    pouchd.json("POST", f"/containers/{cid}/wait")
    assert pouchd.json("POST", "/containers/prune")["ContainersDeleted"] == [cid]


def test_containers_outlive_a_daemon_restart(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    cid = create(pouchd, ["sleep", "60"])
    pouchd.request("POST", f"/containers/{cid}/start")
    pid = pouchd.json("GET", f"/containers/{cid}/json")["State"]["Pid"]
    restart_pouchd(pouchd)  # SIGTERM: stop serving, leave containers running
    info = pouchd.json("GET", f"/containers/{cid}/json")
    assert info["State"]["Running"] and info["State"]["Pid"] == pid
    pouchd.request("DELETE", f"/containers/{cid}", query={"force": 1})


def test_auto_remove_happens_also_while_the_daemon_is_down(
    pouchd: PouchDaemon, pouchd_busybox: str
) -> None:
    cid = create(pouchd, ["sleep", "1"], HostConfig={"AutoRemove": True})
    pouchd.request("POST", f"/containers/{cid}/start")
    status, _, body = pouchd.request(
        "POST",
        f"/containers/{cid}/update",
        json.dumps({"RestartPolicy": {"Name": "always"}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and "AutoRemove" in json.loads(body)["message"]
    stop_pouchd(pouchd)
    time.sleep(1.5)  # it exits meanwhile; the engine removes it when it is back
    start_pouchd(pouchd)
    deadline = time.monotonic() + 10
    while pouchd.request("GET", f"/containers/{cid}/json")[0] != 404:
        assert time.monotonic() < deadline, "the AutoRemove container was not removed"
        time.sleep(0.1)


def test_auto_remove_takes_anonymous_volumes_along(
    pouchd: PouchDaemon, pouchd_busybox: str
) -> None:
    cid = create(pouchd, ["true"], Volumes={"/data": {}}, HostConfig={"AutoRemove": True})
    pouchd.request("POST", f"/containers/{cid}/start")
    # Gone as soon as it exited: a wait sent now may find it removed already (404).
    deadline = time.monotonic() + 30
    while pouchd.request("GET", f"/containers/{cid}/json")[0] != 404:
        assert time.monotonic() < deadline, "the container was not removed after its exit"
        time.sleep(0.05)
    assert pouchd.json("GET", "/volumes")["Volumes"] == []
