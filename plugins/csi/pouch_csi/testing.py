"""``pouch-csi-hostdir`` as a test fixture: a real driver process on a short socket.

``running_hostdir(root, *flags)`` starts the driver (``python -m
pouch_csi.hostdir``) with its volumes under ``root`` and its socket in a
short /tmp directory, waits (bounded) until it answers ``Probe``, and at the
end stops it and unmounts whatever it left mounted under the paths it used,
so a failed test leaves no mount and no loop device behind. ``HostdirDriver``
can ``kill`` it (a crash) and ``start`` it again on the same socket and root.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from pouch.mounts import mount_table, unmount
from pouch_csi._pb import csi_pb2 as pb

__all__ = ["HostdirDriver", "running_hostdir", "unmount_under"]

_START_TIMEOUT = 30.0


class HostdirDriver:
    def __init__(self, root: Path, socket: Path, flags: tuple[str, ...], log: Path) -> None:
        self.root = root
        self.socket = socket
        self.flags = flags
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def answers(self) -> bool:
        with grpc.insecure_channel(self.endpoint) as channel:
            probe = channel.unary_unary(
                "/csi.v1.Identity/Probe",
                request_serializer=pb.ProbeRequest.SerializeToString,
                response_deserializer=pb.ProbeResponse.FromString,
            )
            try:
                probe(pb.ProbeRequest(), timeout=2)
            except grpc.RpcError:
                return False
            return True

    def start(self, *extra: str) -> None:
        argv = [sys.executable, "-m", "pouch_csi.hostdir", "-v"]
        argv += ["--endpoint", self.endpoint, "--root", str(self.root), *self.flags, *extra]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pouch-csi-hostdir exited:\n{self.log()}")
            if self.socket.exists() and self.answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"pouch-csi-hostdir did not answer:\n{self.log()[-2000:]}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the driver to end by itself (``--crash-in``); its exit status."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: the driver dies mid-whatever, as a crash would have it."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def unmount_under(*directories: Path) -> list[str]:
    """Unmount everything mounted under ``directories``, deepest first; what was there."""
    prefixes = [str(d.resolve()).rstrip("/") + "/" for d in directories]
    found = sorted(
        {e.point for e in mount_table() if any(e.point.startswith(p) for p in prefixes)},
        key=len,
        reverse=True,
    )
    for point in found:
        with contextlib.suppress(OSError):
            unmount(Path(point))
    return found


@contextlib.contextmanager
def running_hostdir(root: Path, *flags: str) -> Iterator[HostdirDriver]:
    """A started ``pouch-csi-hostdir`` with its volumes under ``root``; cleaned up after."""
    short = Path(tempfile.mkdtemp(prefix="pouch-csi-", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    driver = HostdirDriver(root, short / "hostdir.sock", flags, short / "hostdir.log")
    try:
        driver.start()
        yield driver
    finally:
        driver.stop()
        unmount_under(root)
        log = driver.log()
        shutil.rmtree(short, ignore_errors=True)
        if log and "Traceback" in log:
            sys.stderr.write(f"pouch-csi-hostdir log:\n{log[-4000:]}\n")
