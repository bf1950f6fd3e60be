"""The peers: podman, containerd with ctr, bare runc and skopeo (+ umoci), each on a private store.

Every peer keeps its config and state under the benchmark's temp dir. The
runner runs in a private mount namespace with tmpfs over /run and /var/lib,
so what these tools insist on writing there (podman's blob-info cache,
containerd's shim sockets under /run/containerd, runc's state) lands in
memory the host never sees. Notes from this machine: podman needs the
cgroupfs manager and ulimits at or below the hard limits (there is no
CAP_SYS_RESOURCE); containerd needs root, state, sockets and fifos moved.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import time
from pathlib import Path

from _procs import TOKEN, BenchError, Service, output, pids_matching, rss_mib, run, timed

__all__ = ["Containerd", "Podman", "Runc", "Skopeo"]


class Podman:
    """podman with a private root, runroot, tmpdir, network config and containers.conf."""

    name = "podman"

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "podman"
        (self.home / "tmp").mkdir(parents=True)
        conf = self.home / "containers.conf"
        conf.write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\nevents_logger = "none"\nruntime = "runc"\n'
            "[network]\n"
            f'network_backend = "cni"\nnetwork_config_dir = "{self.home / "net"}"\n'
        )
        storage = self.home / "storage.conf"
        storage.write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{self.home / "run"}"\n'
            f'graphroot = "{self.home / "root"}"\n'
        )
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf), "TMPDIR": str(self.home / "tmp")}
        self.env["CONTAINERS_STORAGE_CONF"] = str(storage)
        self.cli = ["podman", "--root", str(self.home / "root"), "--runroot"]
        self.cli += [str(self.home / "run"), "--tmpdir", str(self.home / "tmp")]
        self.cli += ["--network-config-dir", str(self.home / "net"), "--storage-driver", "overlay"]
        self.cli += ["--cgroup-manager", "cgroupfs", "--events-backend", "none"]
        self.detached: list[str] = []
        self.image = ""

    def version(self) -> str:
        return output(["podman", "--version"], env=self.env)

    def prepare(self, image: str) -> None:
        self.image = image
        run([*self.cli, "pull", "-q", "--tls-verify=false", image], env=self.env, timeout=300)

    def run_command(self, network: str | None) -> list[str]:
        extra = ["--network", network] if network else []
        return [*self.cli, "run", "--rm", *extra, self.image, "true"]

    def ps_command(self) -> list[str]:
        return [*self.cli, "ps"]

    def pull(self, image: str) -> float:
        command = [*self.cli, "pull", "-q", "--tls-verify=false", image]
        return timed(command, env=self.env, timeout=600)

    def unpull(self, image: str) -> None:
        run([*self.cli, "rmi", "-f", image], env=self.env)

    def start_idle(self, count: int) -> None:
        for _ in range(count):
            command = [*self.cli, "run", "-d", "--network", "none", self.image, "sleep", "600"]
            self.detached.append(run(command, env=self.env).stdout.decode().strip())

    def stop_idle(self) -> None:
        if self.detached:
            run([*self.cli, "rm", "-f", "-t", "0", *self.detached], env=self.env)
            self.detached.clear()

    def memory(self) -> tuple[float, list[float]]:
        """No daemon (0); each conmon's RSS in MiB."""
        return 0.0, [rss_mib(pid) for pid in pids_matching("conmon", str(self.home))]

    def close(self) -> list[str]:
        ids: list[str] = []
        with contextlib.suppress(BenchError):
            ids = output([*self.cli, "ps", "-aq", "--no-trunc"], env=self.env).split()
            run([*self.cli, "rm", "-f", "-a", "-t", "0"], env=self.env)
            run([*self.cli, "rmi", "-f", "-a"], env=self.env)
        return ids


class Containerd:
    """containerd started from our config.toml, driven with ``ctr --address``."""

    name = "containerd"

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "containerd"
        self.home.mkdir()
        self.socket = self.home / "containerd.sock"
        self.fifo = self.home / "fifo"
        self.namespace = TOKEN
        config = self.home / "config.toml"
        config.write_text(
            f'version = 2\nroot = "{self.home / "root"}"\nstate = "{self.home / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{self.socket}.ttrpc"\n'
            '[debug]\n  address = ""\n'
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.home / "opt"}"\n'
        )
        self.ctr = ["ctr", "--address", str(self.socket), "-n", self.namespace]
        self.service = Service(
            "containerd", ["containerd", "--config", str(config)], self.home / "containerd.log"
        )
        self.ids = itertools.count()
        self.detached: list[str] = []
        self.image = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.service.alive():
            with contextlib.suppress(BenchError):
                run([*self.ctr, "version"], timeout=10)
                return
            time.sleep(0.1)
        tail = self.service.log_tail()
        self.service.stop()
        raise BenchError(f"containerd did not answer on {self.socket}; its log ends:\n{tail}")

    def version(self) -> str:
        return output(["containerd", "--version"])

    def prepare(self, image: str) -> None:
        self.image = image
        run([*self.ctr, "image", "pull", "--plain-http", image], timeout=300)

    def run_command(self, network: str | None = None) -> list[str]:
        name = f"{TOKEN}-{next(self.ids)}"
        return [*self.ctr, "run", "--rm", "--fifo-dir", str(self.fifo), self.image, name, "true"]

    def ps_command(self) -> list[str]:
        return [*self.ctr, "containers", "ls"]

    def pull(self, image: str) -> float:
        """``ctr image pull`` fetches the content, then unpacks it into overlayfs snapshots."""
        return timed([*self.ctr, "image", "pull", "--plain-http", image], timeout=600)

    def unpull(self, image: str) -> None:
        run([*self.ctr, "image", "rm", "--sync", image])

    def start_idle(self, count: int) -> None:
        for _ in range(count):
            name = f"{TOKEN}-d{next(self.ids)}"
            run(
                [
                    *self.ctr,
                    "run",
                    "-d",
                    "--fifo-dir",
                    str(self.fifo),
                    self.image,
                    name,
                    "sleep",
                    "600",
                ]
            )
            self.detached.append(name)

    def _remove(self, name: str) -> None:
        with contextlib.suppress(BenchError):
            run([*self.ctr, "task", "rm", "-f", name])
        with contextlib.suppress(BenchError):
            run([*self.ctr, "containers", "rm", name])

    def stop_idle(self) -> None:
        for name in self.detached:
            self._remove(name)
        self.detached.clear()

    def memory(self) -> tuple[float, list[float]]:
        """containerd's RSS and each shim's, in MiB."""
        shims = pids_matching("containerd-shim-runc-v2", str(self.socket))
        return rss_mib(self.service.pid), [rss_mib(pid) for pid in shims]

    def close(self) -> list[str]:
        if self.service.alive():
            with contextlib.suppress(BenchError):
                names = output([*self.ctr, "containers", "ls", "-q"]).split()
                for name in names:
                    self._remove(name)
        self.service.stop()
        return [f"/{self.namespace}/"]


class Runc:
    """Bare ``runc run`` of a busybox bundle: no engine, no monitor, no image store."""

    name = "runc"

    def __init__(self, tmp: Path, bundle: Path) -> None:
        self.state = tmp / "runc-state"
        self.bundle = bundle
        self.ids = itertools.count()

    def version(self) -> str:
        return output(["runc", "--version"]).splitlines()[0]

    def run_command(self, network: str | None = None) -> list[str]:
        name = f"{TOKEN}-runc-{next(self.ids)}"
        return ["runc", "--root", str(self.state), "run", "--bundle", str(self.bundle), name]

    def close(self) -> list[str]:
        return [f"{TOKEN}-runc-"]


class Skopeo:
    """``skopeo copy`` to a local dir: download only, the floor of the pull figure.

    With umoci, ``skopeo copy`` to an OCI layout and ``umoci raw unpack``: the
    floor of download *and* unpack.
    """

    name = "skopeo"

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "skopeo"
        (self.home / "tmp").mkdir(parents=True)
        self.env = {**os.environ, "TMPDIR": str(self.home / "tmp")}
        self.umoci = shutil.which("umoci") is not None

    def version(self) -> str:
        found = output(["skopeo", "--version"])
        if self.umoci:
            found += "; " + output(["umoci", "--version"])
        return found

    def pull(self, image: str) -> float:
        command = ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{image}"]
        return timed([*command, f"dir:{self.home / 'dir'}"], env=self.env, timeout=600)

    def pull_unpack(self, image: str) -> float:
        start = time.perf_counter()
        layout = f"oci:{self.home / 'oci'}:latest"
        command = ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{image}", layout]
        run(command, env=self.env, timeout=600)
        run(
            [
                "umoci",
                "raw",
                "unpack",
                "--image",
                layout.removeprefix("oci:"),
                str(self.home / "rootfs"),
            ],
            env=self.env,
            timeout=600,
        )
        return time.perf_counter() - start

    def unpull(self, image: str) -> None:
        for name in ("dir", "oci", "rootfs"):
            shutil.rmtree(self.home / name, ignore_errors=True)
