"""CSI drivers that fail, and a pouchd killed mid-step: clear errors, nothing left behind.

A driver that crashes inside ``NodePublishVolume`` (after its mount), one that
answers garbage, one that is not there, one that goes away while a volume is
in use; and ``kill -9`` of pouchd between ``NodeStageVolume`` and
``NodePublishVolume``. Each error names the driver and the step; the
container is not created; once the driver is back, what was staged or
published is taken back by pouchd's retries, so nothing stays mounted.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pouch_csi.testing import HostdirDriver

from pouch.mounts import mount_table
from pouch.testing.daemon import PouchDaemon, start_pouchd

from .conftest import BIN, csi_settings, pouch

pytestmark = [pytest.mark.root, pytest.mark.binary("runc", "conmon", "mkfs.ext4")]


@pytest.fixture
def garbage_socket() -> Iterator[Path]:
    """A unix socket whose server answers every connection with bytes that are not gRPC."""
    directory = Path(tempfile.mkdtemp(prefix="pouch-garbage-", dir="/tmp"))
    path = directory / "junk.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection, contextlib.suppress(OSError):
                connection.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + os.urandom(512))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
        path.unlink(missing_ok=True)
        directory.rmdir()


@pytest.fixture
def pouchd_settings(hostdir: HostdirDriver, garbage_socket: Path) -> dict[str, object]:
    settings = csi_settings(hostdir)
    drivers = settings["drivers"]
    assert isinstance(drivers, dict)
    drivers["junk"] = {"endpoint": f"unix://{garbage_socket}", "timeout": 5}
    drivers["gone"] = {"endpoint": "unix:///tmp/pouch-no-such-driver.sock", "timeout": 5}
    # A driver pouchd is to run whose program does not exist: said in the log,
    # and the retries of the other drivers' steps go on regardless.
    drivers["broken"] = {
        "endpoint": "unix:///tmp/pouch-no-such-driver-2.sock",
        "command": ["/nonexistent/csi-driver"],
    }
    return {"plugin": {"csi": settings}}


def until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def mounts_under(*roots: Path) -> list[str]:
    prefixes = [str(r.resolve()).rstrip("/") + "/" for r in roots]
    return [e.point for e in mount_table() if any(e.point.startswith(p) for p in prefixes)]


def status(pouchd: PouchDaemon, volume: str) -> dict[str, str]:
    [info] = json.loads(pouch(pouchd, "volume", "inspect", volume).stdout)
    result: dict[str, str] = info["Status"]
    return result


def restart_driver(driver: HostdirDriver, *flags: str) -> None:
    driver.kill()
    driver.flags = flags
    driver.start()


@pytest.mark.usefixtures("clean")
def test_a_driver_that_crashes_mid_publish(
    pouchd: PouchDaemon, pouchd_busybox: str, hostdir: HostdirDriver
) -> None:
    pouch(
        pouchd, "volume", "create", "-d", "csi", "-o", "driver=hostdir", "-o", "size=16MiB", "vol"
    )
    restart_driver(hostdir, "--crash-in", "NodePublishVolume")
    failed = pouch(pouchd, "run", "--name", "c", "-v", "vol:/data", "busybox", "true", check=False)
    assert failed.returncode == 125, failed
    assert "csi driver hostdir: NodePublishVolume: UNAVAILABLE" in failed.stderr, failed.stderr
    assert pouch(pouchd, "ps", "-aq").stdout == ""
    assert hostdir.wait_exit() == 70  # it did crash there, with its mount made
    assert mounts_under(pouchd.run_root), "the crashed driver's mount is expected here"

    restart_driver(hostdir)  # back, and pouchd's retries take everything back
    until(lambda: not mounts_under(pouchd.run_root, hostdir.root), "the mounts to go")
    until(lambda: "staged" not in status(pouchd, "vol"), "the volume to be unstaged")
    assert "pending" not in status(pouchd, "vol")
    assert pouch(pouchd, "run", "--rm", "-v", "vol:/data", "busybox", "true").returncode == 0
    pouch(pouchd, "volume", "rm", "vol")


@pytest.mark.usefixtures("clean")
def test_a_driver_that_goes_away_while_its_volume_is_used(
    pouchd: PouchDaemon, pouchd_busybox: str, hostdir: HostdirDriver
) -> None:
    pouch(
        pouchd, "volume", "create", "-d", "csi", "-o", "driver=hostdir", "-o", "size=16MiB", "vol"
    )
    pouch(pouchd, "run", "-d", "--name", "c", "-v", "vol:/data", "busybox", "sleep", "300")
    hostdir.kill()
    # The container goes; the unpublish cannot: it is kept as due, and said.
    pouch(pouchd, "rm", "-f", "c")
    pending = status(pouchd, "vol").get("pending", "")
    assert "csi driver hostdir: NodeUnpublishVolume: UNAVAILABLE" in pending, pending
    refused = pouch(pouchd, "volume", "rm", "vol", check=False)
    assert refused.returncode != 0 and "still in use on this node" in refused.stderr
    again = pouch(pouchd, "run", "--rm", "-v", "vol:/data", "busybox", "true", check=False)
    assert again.returncode == 125 and "csi driver hostdir" in again.stderr, again.stderr

    restart_driver(hostdir)
    until(lambda: not mounts_under(pouchd.run_root, hostdir.root), "the mounts to go")
    until(lambda: "pending" not in status(pouchd, "vol"), "the steps back to be done")
    pouch(pouchd, "volume", "rm", "vol")


def test_garbage_and_absent_drivers_are_named_with_the_step(
    pouchd: PouchDaemon, garbage_socket: Path
) -> None:
    for driver, expected in (("junk", "csi driver junk: GetPluginInfo: "), ("gone", "UNAVAILABLE")):
        failed = pouch(
            pouchd, "volume", "create", "-d", "csi", "-o", f"driver={driver}", "v", check=False
        )
        assert failed.returncode == 1 and expected in failed.stderr, failed.stderr
        assert f"csi driver {driver}: GetPluginInfo" in failed.stderr
    assert "is the driver running?" in failed.stderr
    added = pouch(
        pouchd, "csi", "add", "junk2", "--endpoint", f"unix://{garbage_socket}", check=False
    )
    assert added.returncode == 1 and "csi driver junk2: GetPluginInfo" in added.stderr
    assert pouch(pouchd, "volume", "ls", "-q").stdout == ""
    until(lambda: "csi driver broken: cannot run /nonexistent/csi-driver" in pouchd.log(), "log")


@pytest.mark.usefixtures("clean")
def test_kill_9_of_pouchd_between_stage_and_publish_leaves_nothing(
    pouchd: PouchDaemon, pouchd_busybox: str, hostdir: HostdirDriver
) -> None:
    pouch(
        pouchd, "volume", "create", "-d", "csi", "-o", "driver=hostdir", "-o", "size=16MiB", "vol"
    )
    # Staged, and the answer held back: pouchd dies before it can publish.
    restart_driver(hostdir, "--delay-in", "NodeStageVolume=3")
    env = {**os.environ, "POUCH_HOST": pouchd.host}
    run = subprocess.Popen(
        [str(BIN / "pouch"), "run", "-d", "-v", "vol:/data", "busybox", "sleep", "300"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        staging = pouchd.run_root / "csi" / "volumes" / "vol" / "staging"
        until(lambda: str(staging) in {e.point for e in mount_table()}, "the volume to be staged")
        assert pouchd.process is not None
        pouchd.process.kill()
        pouchd.process.wait(timeout=10)
        pouchd.process = None
    finally:
        run.communicate(timeout=30)
    restart_driver(hostdir)
    start_pouchd(pouchd)
    until(lambda: not mounts_under(pouchd.run_root, hostdir.root), "the staged volume to go")
    until(lambda: "staged" not in status(pouchd, "vol"), "the volume to be unstaged")
    assert pouch(pouchd, "ps", "-aq").stdout == ""
    assert pouch(pouchd, "run", "--rm", "-v", "vol:/data", "busybox", "true").returncode == 0
    pouch(pouchd, "volume", "rm", "vol")
