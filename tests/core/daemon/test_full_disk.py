"""pouchd on a full disk: a real daemon (runc) whose state root is a small loop-mounted ext4.

Each test fills the filesystem with a filler file, makes one operation fail
for want of space, and checks what a user sees: an error that says "no space
left on device" and names what was being written (never a traceback or a
bare 500), a store that is as it was (images listed, inspected and runnable;
no temporary blob, commit layer or snapshot left; an image prune, as
``docker image prune`` asks, removing any leftover), and the same operation
succeeding once the filler is deleted, without restarting pouchd. A chatty
container whose log is on the full filesystem keeps running, and pouchd says
so once.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pouch.errors import NoSpace
from pouch.store import Database
from pouch.testing.daemon import PouchDaemon, import_busybox_api, preferred_runtime, running_pouchd
from pouch.testing.full_disk import LoopFilesystem, loop_filesystem
from pouch.testing.images import busybox_layer, busybox_rootfs_tar
from pouch.testing.registry import Registry, RegistryMissing, running_registry
from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

RUNTIME, NO_RUNC = preferred_runtime()
pytestmark = [
    pytest.mark.root,
    pytest.mark.binary("mkfs.ext4", "losetup", "mount", "umount"),
    pytest.mark.skipif(RUNTIME != "runc", reason=f"needs real containers: {NO_RUNC}"),
]

BULK = 8 << 20  # bytes of random (incompressible) data in the images that must not fit
HEADROOM = 3 << 20  # what ``fill`` leaves: room for small writes, not for BULK
NO_SPACE = "no space left on device writing "
_WAIT = 30.0


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopFilesystem]:
    with loop_filesystem(tmp_path_factory.mktemp("disk"), size_mib=128) as filesystem:
        yield filesystem


@pytest.fixture(scope="module")
def state(disk: LoopFilesystem) -> Path:
    return disk.mount / "state"


@pytest.fixture(scope="module")
def daemon(
    disk: LoopFilesystem, state: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PouchDaemon]:
    work = tmp_path_factory.mktemp("pouchd")
    with running_pouchd(work, runtime="runc", settings={"root": state}) as pouchd:
        if "runc" not in pouchd.json("GET", "/info")["Runtimes"]:
            pytest.skip("the runc runtime is not available to pouchd")
        import_busybox_api(pouchd, busybox_rootfs_tar(work))
        yield pouchd


@pytest.fixture
def full(disk: LoopFilesystem) -> Iterator[LoopFilesystem]:
    """The disk, to be filled by the test; emptied again whatever happens."""
    try:
        yield disk
    finally:
        disk.free()


# -- helpers -------------------------------------------------------------------------


def pouch(daemon: PouchDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``pouch`` CLI against ``daemon``."""
    return subprocess.run(
        [sys.executable, "-m", "pouch", "-H", daemon.host, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def demux(data: bytes) -> bytes:
    out = b""
    while data:
        _, size = struct.unpack(">BxxxL", data[:8])
        out += data[8 : 8 + size]
        data = data[8 + size :]
    return out


def run(daemon: PouchDaemon, image: str, command: str) -> str:
    """Run ``sh -c command`` in a container of ``image`` to its end; its output."""
    body = {"Image": image, "Cmd": ["sh", "-c", command]}
    cid = daemon.json("POST", "/containers/create", body)["Id"]
    try:
        daemon.json("POST", f"/containers/{cid}/start")
        assert daemon.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
        status, _, raw = daemon.request("GET", f"/containers/{cid}/logs", query={"stdout": 1})
        assert status == 200
        return demux(raw).decode()
    finally:
        daemon.json("DELETE", f"/containers/{cid}", query={"force": 1})


def tags(daemon: PouchDaemon) -> set[str]:
    return {tag for image in daemon.json("GET", "/images/json") for tag in image["RepoTags"] or []}


class Stored(NamedTuple):
    """What the store holds: blob files, snapshot dirs, entries of the state root, image names."""

    blobs: set[str]
    snapshots: set[str]
    entries: set[str]
    tags: set[str]


def stored(daemon: PouchDaemon, state: Path) -> Stored:
    return Stored(
        blobs={entry.name for entry in os.scandir(state / "blobs" / "sha256")},
        snapshots={entry.name for entry in os.scandir(state / "snapshots")},
        entries={entry.name for entry in os.scandir(state)},
        tags=tags(daemon),
    )


def assert_no_space(message: str, doing: str, written: str, state: Path) -> None:
    """The message says the operation, "no space left on device", what and where."""
    assert "internal error" not in message and "Traceback" not in message, message
    assert message.startswith(f"{doing}: {NO_SPACE}{written}"), message
    assert message.endswith(f"; free space on the filesystem of {state}"), message


def assert_intact(daemon: PouchDaemon, state: Path, before: Stored) -> None:
    """While still full: no half-written file left, the images as they were."""
    now = stored(daemon, state)
    assert not [name for name in now.blobs if not re.fullmatch(r"[0-9a-f]{64}", name)], now
    assert now.snapshots == before.snapshots  # no half-unpacked layer
    assert now.entries == before.entries, now.entries ^ before.entries  # no commit-*.tar
    assert now.tags == before.tags
    assert daemon.json("GET", "/images/busybox:latest/json")["RepoTags"] == ["busybox:latest"]


def assert_back(daemon: PouchDaemon, state: Path, before: Stored) -> None:
    """Once freed: an image prune removes what the failed operation left, images run."""
    daemon.json("POST", "/images/prune")
    assert stored(daemon, state) == before
    assert run(daemon, "busybox:latest", "echo still runs") == "still runs\n"


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    """``check()`` once it is truthy; fails after a bounded wait."""
    deadline = time.monotonic() + _WAIT
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {_WAIT}s")


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    try:
        with running_registry() as running:
            yield running
    except RegistryMissing as exc:
        pytest.skip(str(exc))


# -- the operations ------------------------------------------------------------------


def test_pull_on_a_full_disk(
    daemon: PouchDaemon, state: Path, full: LoopFilesystem, registry: Registry
) -> None:
    bulk = busybox_layer().file("bulk", os.urandom(BULK)).tobytes(compress=True)
    push_image_to_registry(registry.address, "big/pull", [busybox_layer_bytes(), bulk])
    ref = f"{registry.address}/big/pull:latest"
    before = stored(daemon, state)
    full.fill(leave=HEADROOM)

    pulled = pouch(daemon, "pull", ref)
    assert pulled.returncode != 0
    assert "Traceback" not in pulled.stderr and "internal error" not in pulled.stderr
    said = [line for line in pulled.stderr.splitlines() if NO_SPACE in line]
    assert said, pulled.stderr
    message = said[0][said[0].index("pulling ") :]
    assert_no_space(message, f"pulling {ref}", f"{state}/blobs/sha256/", state)
    assert_intact(daemon, state, before)
    assert NO_SPACE in daemon.log()  # pouchd says it too

    full.free()
    assert_back(daemon, state, before)
    again = pouch(daemon, "pull", ref)
    assert again.returncode == 0, again.stderr
    assert run(daemon, ref, "wc -c < /bulk").strip() == str(BULK)
    assert pouch(daemon, "rmi", ref).returncode == 0


def test_load_on_a_full_disk(daemon: PouchDaemon, state: Path, full: LoopFilesystem) -> None:
    tarball = busybox_layer().file("bulk", os.urandom(BULK)).tobytes()
    status, _, body = daemon.request(
        "POST", "/images/create", tarball, query={"fromSrc": "-", "repo": "bulky", "tag": "1"}
    )
    assert status == 200, body
    status, _, saved = daemon.request("GET", "/images/bulky:1/get")
    assert status == 200 and len(saved) > BULK
    daemon.json("DELETE", "/images/bulky:1")
    before = stored(daemon, state)
    full.fill(leave=HEADROOM)

    status, headers, body = daemon.request(
        "POST", "/images/load", saved, headers={"Content-Type": "application/x-tar"}
    )
    assert status == 507 and headers["content-type"] == "application/json", body
    assert_no_space(json.loads(body)["message"], "loading images", f"{state}/blobs/", state)
    assert_intact(daemon, state, before)
    assert not os.listdir(daemon.run_root / "uploads")  # the spooled upload is gone too

    full.free()
    assert_back(daemon, state, before)
    status, _, body = daemon.request("POST", "/images/load", saved)
    assert status == 200 and b"Loaded image: bulky:1" in body, body
    assert run(daemon, "bulky:1", "wc -c < /bulk").strip() == str(BULK)
    daemon.json("DELETE", "/images/bulky:1")


def test_commit_on_a_full_disk(daemon: PouchDaemon, state: Path, full: LoopFilesystem) -> None:
    body = {"Image": "busybox", "Cmd": ["sh", "-c", f"head -c {BULK} /dev/urandom > /big"]}
    cid = daemon.json("POST", "/containers/create", body)["Id"]
    daemon.json("POST", f"/containers/{cid}/start")
    assert daemon.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
    name = daemon.json("GET", f"/containers/{cid}/json")["Name"].lstrip("/")
    before = stored(daemon, state)
    full.fill(leave=HEADROOM)

    query = {"container": cid, "repo": "committed", "tag": "1"}
    status, _, raw = daemon.request("POST", "/commit", query=query)
    assert status == 507, raw
    assert_no_space(
        json.loads(raw)["message"], f"committing container {name}", f"{state}/commit-", state
    )
    assert_intact(daemon, state, before)

    full.free()
    assert_back(daemon, state, before)
    status, _, raw = daemon.request("POST", "/commit", query=query)
    assert status == 201, raw
    daemon.json("DELETE", f"/containers/{cid}")
    assert run(daemon, "committed:1", "wc -c < /big").strip() == str(BULK)
    daemon.json("DELETE", "/images/committed:1")


def test_container_log_on_a_full_disk(
    daemon: PouchDaemon, state: Path, full: LoopFilesystem
) -> None:
    chatty = 'i=0; while true; do i=$((i+1)); echo "line $i"; usleep 5000; done'
    body = {"Image": "busybox", "Cmd": ["sh", "-c", chatty]}
    cid = daemon.json("POST", "/containers/create", body)["Id"]

    def numbers() -> list[int]:
        logs = pouch(daemon, "logs", cid)
        assert logs.returncode == 0, logs.stderr
        return [int(n) for n in re.findall(r"^line (\d+)$", logs.stdout, re.M)]

    try:
        daemon.json("POST", f"/containers/{cid}/start")
        wait_for("the first lines", lambda: len(numbers()) >= 10)
        full.fill()

        def said() -> list[str]:
            mine = f"container {cid[:12]} ("
            return [line for line in daemon.log().splitlines() if mine in line and "log" in line]

        wait_for("pouchd's line", said)
        stored = numbers()  # what was written before the disk filled is still there
        assert stored and stored == list(range(1, len(stored) + 1))
        assert daemon.json("GET", f"/containers/{cid}/json")["State"]["Running"]

        full.free()
        wait_for("new lines", lambda: numbers()[-1] > stored[-1] + 1)
        later = [n for n in numbers() if n > stored[-1]]
        assert later[0] > stored[-1] + 1  # what came while the disk was full was dropped
        lines = wait_for("pouchd's second line", lambda: len(said()) >= 2 and said())
        assert len(lines) == 2, lines  # one when it filled, one when it was freed: not per write
        assert f"no space left on device for its log {state}/containers/{cid}/" in lines[0]
        assert f"freed on the filesystem of {state}" in lines[0]
        assert f"space is free again on the filesystem of {state}" in lines[1]
        assert daemon.json("GET", f"/containers/{cid}/json")["State"]["Running"]
    finally:
        daemon.json("DELETE", f"/containers/{cid}", query={"force": 1})


def test_database_on_a_full_disk(full: LoopFilesystem) -> None:
    path = full.mount / "db" / "pouch.db"
    db = Database(path)
    try:
        with db.transaction() as conn:
            conn.execute("CREATE TABLE rows (n INTEGER, data BLOB)")
        full.fill()
        written = 0
        with pytest.raises(NoSpace) as failed:
            for n in range(1000):
                with db.transaction() as conn:
                    conn.execute("INSERT INTO rows VALUES (?, ?)", (n, os.urandom(65536)))
                written += 1
        assert str(failed.value) == (
            f"{NO_SPACE}{path}; free space on the filesystem of {path.parent}"
        )
        full.free()
        with db.transaction() as conn:  # no transaction was left open by the failed one
            conn.execute("INSERT INTO rows VALUES (?, ?)", (-1, b""))
        assert db.query("SELECT count(*) FROM rows") == [(written + 1,)]
    finally:
        db.close()
