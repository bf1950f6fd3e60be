"""Fixtures for the kata tests: the guest assets, built once, and VMs that never outlive a test.

The assets are built where ``pouch-kata assets build`` puts them by default
(``/var/lib/pouch/kata/assets``) when the tests run as root, so that
``scripts/setup``'s build serves the tests and the tests' build serves pouchd;
otherwise under ``~/.cache/pouch-kata``; ``POUCH_KATA_ASSETS`` overrides both.
A build that is up to date costs a checksum of each file. Tests skip, saying
why, only when QEMU is missing or the Debian archive cannot be reached.

The agent tests get the agent built once, a busybox root filesystem, and an
agent running on the host on a unix socket (an ordinary root process, not
PID 1 of a VM: the same code serves the same protocol, it only skips the
system mounts). Everything a test starts is killed by PID, and every
directory removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pouch_kata import _agent_build
from pouch_kata._agent_build import build_assets_with_agent
from pouch_kata._assets import Assets, DownloadError, assets_dir
from pouch_kata._qemu import MicroVM, VMSpec
from pouch_kata.plugin import qemu_program


def assets_location() -> Path:
    if "POUCH_KATA_ASSETS" in os.environ:
        return Path(os.environ["POUCH_KATA_ASSETS"])
    if os.geteuid() == 0:
        return assets_dir()
    return Path.home() / ".cache" / "pouch-kata" / "assets"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pouch_runtime() -> str:
    """Engines of these tests run kata (the conformance class says so itself)."""
    return "kata"


@pytest.fixture(scope="session")
def qemu() -> str:
    program, package = qemu_program()
    if shutil.which(program) is None:
        pytest.skip(f"{program} not found; install the Debian package {package}")
    return program


@pytest.fixture(scope="session")
def guest_assets() -> Assets:
    """The assets as ``pouch-kata assets build`` makes them: the agent is ``/init``."""
    _need_go()
    try:
        assets, _ = build_assets_with_agent(assets_location())
    except DownloadError as why:
        pytest.skip(f"the Debian archive is not reachable: {why}")
    return assets


MakeVM = Callable[..., MicroVM]


@pytest.fixture
def make_vm(qemu: str, tmp_path: Path) -> Iterator[MakeVM]:
    """MicroVMs for one test; each is stopped (QMP, then its PID killed) and checked gone."""
    vms: list[MicroVM] = []

    def make(spec: VMSpec, name: str = "vm") -> MicroVM:
        vm = MicroVM(spec, tmp_path / name, program=qemu)
        vms.append(vm)
        return vm

    yield make
    for vm in vms:
        vm.stop()
    left = [vm.pid for vm in vms if vm.alive()]
    assert not left, f"QEMU processes left running: {left}"


BUSYBOX = Path("/bin/busybox")


def _need_go() -> None:
    if shutil.which("go") is None:
        pytest.skip(f"go not found on PATH (install the Debian package {_agent_build.GO_PACKAGE})")


@pytest.fixture(scope="session")
def go_cache() -> Iterator[Path]:
    """One Go build cache for the whole session, removed at its end."""
    _need_go()
    cache = Path(tempfile.mkdtemp(prefix="pouch-kata-gocache-"))
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def agent_binary(go_cache: Path) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="pouch-kata-agent-"))
    try:
        yield _agent_build.build(where / "pouch-agent", cache_dir=go_cache)
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="session")
def rootfs() -> Iterator[Path]:
    """A root filesystem of Debian's static busybox and its applet links."""
    if not BUSYBOX.exists():
        pytest.skip(f"{BUSYBOX} missing (install the Debian package busybox-static)")
    top = Path(tempfile.mkdtemp(prefix="pouch-kata-rootfs-"))
    root = top / "rootfs"
    for directory in ("bin", "proc", "tmp", "etc"):
        (root / directory).mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    listed = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True, timeout=10
    )
    for applet in listed.stdout.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    yield root
    shutil.rmtree(top, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class RunningAgent:
    def __init__(self, process: subprocess.Popen[bytes], socket: Path) -> None:
        self.process = process
        self.socket = socket
        #: host PIDs of processes the agent started, killed at teardown even
        #: when the agent itself is gone by then.
        self.started: list[int] = []


@pytest.fixture
def agent(agent_binary: Path, rootfs: Path) -> Iterator[RunningAgent]:
    if os.geteuid() != 0:
        pytest.skip("the agent creates namespaces and chroots: needs root")
    # A short path: unix socket names are limited to 108 bytes.
    where = Path(tempfile.mkdtemp(prefix="pk-agent-", dir="/tmp"))
    socket = where / "agent.sock"
    log = (where / "agent.log").open("wb")
    process = subprocess.Popen(
        [str(agent_binary), "--listen", f"unix:{socket}"], stdout=log, stderr=log
    )
    running = RunningAgent(process, socket)
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the agent did not listen: {(where / 'agent.log').read_text()}")
            time.sleep(0.02)
        yield running
    finally:
        pids = _children(process.pid) + running.started
        _kill(process.pid)
        for pid in pids:
            _kill(pid)
        process.wait(timeout=10)
        log.close()
        shutil.rmtree(where, ignore_errors=True)
