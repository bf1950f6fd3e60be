"""An lxcfs pouch does not own (as a system's lxcfs.service), restarted by hand.

``[plugin.lxcfs] mount`` points pouch at it; pouch never starts one of its own,
and when the mount is a new one it mounts the files again into the running
containers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec
import pytest
from pouch_isolation._host import answers

from pouch import ContainerConfig
from pouch.config import EngineConfig
from pouch.engine import Engine

pytestmark = [pytest.mark.anyio, pytest.mark.root, pytest.mark.binary("lxcfs")]

MIB = 1024 * 1024
# busybox's free asks sysinfo(2), which lxcfs cannot answer; procps's free
# (and most programs that size themselves) read /proc/meminfo.
FREE = "awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo"


class HandKeptLxcfs:
    def __init__(self, mount: Path) -> None:
        self.mount = mount
        self.pidfile = mount.with_name("lxcfs.pid")
        self.pids: list[int] = []

    def start(self) -> None:
        self.mount.mkdir(exist_ok=True)
        command = ["setsid", "-f", "lxcfs", "-p", str(self.pidfile), str(self.mount)]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        subprocess.run(command, check=True, timeout=30, **quiet)
        deadline = time.monotonic() + 10
        while not answers(self.mount):
            assert time.monotonic() < deadline, "lxcfs did not come up"
            time.sleep(0.05)
        self.pids.append(int(self.pidfile.read_text()))

    def stop(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        self.pids.clear()
        subprocess.run(["umount", "-l", str(self.mount)], capture_output=True, check=False)


@pytest.fixture
def pouch_runtime() -> str:
    return "runc"


@pytest.fixture
def lxcfs() -> Iterator[HandKeptLxcfs]:
    work = Path(tempfile.mkdtemp(prefix="pouch-lxcfs-", dir="/tmp"))
    kept = HandKeptLxcfs(work / "mount")
    kept.start()
    try:
        yield kept
    finally:
        kept.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def pouch_config(
    lxcfs: HandKeptLxcfs, tmp_path: Path, pouch_runtime: str
) -> Iterator[EngineConfig]:
    run_root = Path(tempfile.mkdtemp(prefix="pouch-", dir="/tmp"))
    try:
        yield EngineConfig(
            root=tmp_path / "root",
            run_root=run_root,
            default_runtime=pouch_runtime,
            default_network="none",
            plugin={"lxcfs": {"mount": str(lxcfs.mount)}},
        )
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


async def test_restarted_by_hand(engine: Engine, busybox: str, lxcfs: HandKeptLxcfs) -> None:
    config = msgspec.convert(
        {
            "image": "busybox",
            "cmd": ["sleep", "300"],
            "enable_lxcfs": True,
            "resources": {"memory": 96 * MIB},
        },
        ContainerConfig,
    )
    container = await engine.create(config)
    await engine.start(container.id)

    async def free() -> bytes:
        code, out, _ = await engine.exec_run(container.id, ["sh", "-c", FREE])
        return out.strip() if code == 0 else b""

    assert await free() == b"96"
    lxcfs.stop()
    await anyio.to_thread.run_sync(lxcfs.start)
    with anyio.fail_after(20):
        while await free() != b"96":
            await anyio.sleep(0.1)
    assert not (engine.config.run_root / "lxcfs" / "lxcfs.pid").exists()  # it started none
    await engine.remove(container.id, force=True)
