"""pouch under benchmark: its own pouchd on a state root, run root and socket in the temp dir.

pouchd never sees /var/lib/pouch or the real /run/pouch: ``--root``,
``--run-root`` and ``-H unix://…`` point into the benchmark's directory, and
the default bridge network gets a bridge name and subnets of its own so it
cannot meet another pouchd's. The ``pouch`` CLI reaches it with ``-H``.
Containers outlive pouchd (they run under conmon), so ``close`` removes
them all before it stops the daemon by its PID.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from _procs import BenchError, Service, output, pids_matching, rss_mib, run, timed

__all__ = ["BRIDGE", "Pouch"]

BRIDGE = "pbench0"
_SETTINGS = f"""\
[plugin.cni]
default_bridge = "{BRIDGE}"
default_subnet = "10.229.0.0/16"
subnet_pool = "10.230.0.0/16"
"""


class Pouch:
    """pouchd started for the run, and the ``pouch`` CLI pointed at it."""

    name = "pouch"

    def __init__(self, venv: Path, tmp: Path) -> None:
        self.home = tmp / "pouch"
        self.home.mkdir()
        self.socket = self.home / "pouchd.sock"
        self.cri_socket = self.home / "run" / "cri.sock"  # the CRI plugin's default: run root
        self.cli = [str(venv / "bin" / "pouch"), "-H", f"unix://{self.socket}"]
        self.pouchd = str(venv / "bin" / "pouchd")
        self.service: Service | None = None
        self.notes: list[str] = []
        self.detached: list[str] = []
        self.image = ""
        self._start()

    def _start(self) -> None:
        config = self.home / "pouchd.toml"
        config.write_text(_SETTINGS)
        try:
            self._start_with(config)
        except BenchError as exc:
            # The CNI plugin's settings are new: start on the defaults rather than not at all.
            self.notes.append(f"pouchd refused the bench's [plugin.cni] settings: {exc}")
            config.write_text("")
            self._start_with(config)

    def _start_with(self, config: Path) -> None:
        command = [self.pouchd, "--config", str(config), "--root", str(self.home / "root")]
        command += ["--run-root", str(self.home / "run"), "-H", f"unix://{self.socket}"]
        self.service = Service("pouchd", command, self.home / "pouchd.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.service.alive():
            with contextlib.suppress(BenchError):
                run([*self.cli, "version"], timeout=10)
                return
            time.sleep(0.1)
        tail = self.service.log_tail()
        self.service.stop()
        self.service = None
        raise BenchError(f"pouchd did not answer on {self.socket}; its log ends:\n{tail}")

    def version(self) -> str:
        return output([self.pouchd, "--version"])

    def prepare(self, image: str) -> None:
        self.image = image
        run([*self.cli, "pull", "-q", image], timeout=300)

    # -- figures ---------------------------------------------------------------

    def run_command(self, network: str | None) -> list[str]:
        extra = ["--network", network] if network else []
        return [*self.cli, "run", "--rm", *extra, self.image, "true"]

    def ps_command(self) -> list[str]:
        return [*self.cli, "ps"]

    def build_command(self, context: Path, *, cold: bool) -> list[str]:
        flags = ["--no-cache"] if cold else []
        return [*self.cli, "build", "-q", *flags, "-t", "bench-build", str(context)]

    def pull(self, image: str) -> float:
        return timed([*self.cli, "pull", "-q", image], timeout=600)

    def unpull(self, image: str) -> None:
        run([*self.cli, "rmi", "-f", image], timeout=120)

    def start_idle(self, count: int) -> None:
        for _ in range(count):
            done = run([*self.cli, "run", "-d", "--network", "none", self.image, "sleep", "600"])
            self.detached.append(done.stdout.decode().strip())

    def stop_idle(self) -> None:
        if self.detached:
            run([*self.cli, "rm", "-f", *self.detached], timeout=120)
            self.detached.clear()

    def memory(self) -> tuple[float, list[float]]:
        """pouchd's RSS and each conmon's, in MiB."""
        assert self.service is not None
        monitors = pids_matching("conmon", str(self.home))
        return rss_mib(self.service.pid), [rss_mib(pid) for pid in monitors]

    # -- cleanup ---------------------------------------------------------------

    def container_ids(self) -> list[str]:
        try:
            listed = output([*self.cli, "ps", "-aq", "--no-trunc"])
        except BenchError:
            return []
        return listed.split()

    def close(self) -> list[str]:
        """Remove every container, stop pouchd; the container IDs it had (for the sweep)."""
        if self.service is None:
            return []
        ids = self.container_ids()
        if ids:
            with contextlib.suppress(BenchError):
                run([*self.cli, "rm", "-f", *ids], timeout=120)
        self.service.stop()
        self.service = None
        return ids
