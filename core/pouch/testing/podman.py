"""podman on a private store, for tests that check that pouch's images run in another engine.

Its root, runroot and temporary files live in a fresh directory under /tmp
(podman wants a runroot shorter than 50 bytes), removed afterwards; storage
is ``vfs``, cgroups ``cgroupfs``, the runtime runc, no events. The host's
podman images are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PrivatePodman", "private_podman"]


class PrivatePodman:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "TMPDIR": str(home / "tmp")}
        (home / "tmp").mkdir(exist_ok=True)
        self.cli = [
            "podman", "--root", str(home / "root"), "--runroot", str(home / "run"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc",
            "--events-backend", "none",
        ]  # fmt: skip

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.cli, *args], env=self.env, capture_output=True, text=True, timeout=300
        )

    def pull_and_run(self, reference: str) -> subprocess.CompletedProcess[str]:
        """Pull ``reference`` from a plain-HTTP registry and run it; the run's result."""
        pulled = self("pull", "-q", "--tls-verify=false", reference)
        if pulled.returncode:
            return pulled
        # Hosts without CAP_SYS_RESOURCE cannot raise rlimits: podman's defaults are lowered.
        return self(
            "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024",
            "--ulimit", "nproc=1024:1024", reference,
        )  # fmt: skip


@contextlib.contextmanager
def private_podman() -> Iterator[PrivatePodman]:
    home = Path(tempfile.mkdtemp(prefix="pouch-podman-", dir="/tmp"))
    try:
        yield PrivatePodman(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
