"""The peers: podman, containerd with ctr, bare runc and skopeo (+ umoci), each on a private store.

Every peer keeps its config and state under the benchmark's temp dir. The
runner runs in a private mount namespace with tmpfs over /run and /var/lib,
so what these tools insist on writing there (podman's blob-info cache,
containerd's shim sockets under /run/containerd, runc's state) lands in
memory the host never sees. Notes from this machine: podman needs the
cgroupfs manager and ulimits at or below the hard limits (there is no
CAP_SYS_RESOURCE); containerd needs root, state, sockets and fifos moved.

containerd runs with its CRI plugin, as pouchd runs with its own, for the pod
figure (``_cri.py``): cgroupfs, ``restrict_oom_score_adj`` (no
CAP_SYS_RESOURCE), the sandbox image from the bench's registry over plain
HTTP, network namespaces under its state dir, and pods on a CNI bridge of its
own (``CRI_BRIDGE``, ``CRI_SUBNET``) with the plugin chain pouch's default
network has: bridge + host-local, portmap, firewall from /usr/lib/cni.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import time
from pathlib import Path

from _procs import TOKEN, BenchError, Service, output, pids_matching, rss_mib, run, timed

__all__ = ["CRI_BRIDGE", "CRI_SUBNET", "Containerd", "Podman", "Runc", "Skopeo"]

CRI_BRIDGE = "ctrbench0"  # containerd's CRI pods; pouch's is _pouch.BRIDGE
CRI_SUBNET = "10.232.0.0/24"  # clear of pouch's, podman's and bench/network.py's
_CRI = '"io.containerd.grpc.v1.cri"'


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

    def build_command(self, context: Path, *, cold: bool) -> list[str]:
        flags = ["--no-cache"] if cold else []
        return [*self.cli, "build", "-q", "--pull=never", *flags, "-t", "bench-build", str(context)]

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

    def __init__(self, tmp: Path, registry: str = "", sandbox_image: str = "") -> None:
        self.home = tmp / "containerd"
        self.home.mkdir()
        self.socket = self.home / "containerd.sock"
        self.cri_socket = self.socket  # the CRI plugin serves runtime.v1 on the same socket
        self.fifo = self.home / "fifo"
        self.namespace = TOKEN
        config = self.home / "config.toml"
        config.write_text(
            f'version = 2\nroot = "{self.home / "root"}"\nstate = "{self.home / "state"}"\n'
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{self.socket}.ttrpc"\n'
            '[debug]\n  address = ""\n'
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.home / "opt"}"\n'
            + self._cri_settings(registry, sandbox_image)
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

    def _cri_settings(self, registry: str, sandbox_image: str) -> str:
        """The CRI plugin's section of config.toml; its CNI conflist written beside it."""
        net = self.home / "cni"
        net.mkdir()
        conflist = {
            "cniVersion": "1.0.0",
            "name": "ctrbench",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": CRI_BRIDGE,
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.home / "ipam"),
                        "ranges": [[{"subnet": CRI_SUBNET}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
                {"type": "firewall", "backend": "iptables", "ingressPolicy": "same-bridge"},
            ],
        }
        (net / "10-ctrbench.conflist").write_text(json.dumps(conflist, indent=2))
        cri = f"[plugins.{_CRI}]\n  restrict_oom_score_adj = true\n"
        # No AppArmor profile, as pouch's CRI gives none; the netns mounts stay in the temp dir.
        cri += "  netns_mounts_under_state_dir = true\n  disable_apparmor = true\n"
        cri += '  stream_server_address = "127.0.0.1"\n  stream_server_port = "0"\n'
        if sandbox_image:
            cri += f'  sandbox_image = "{sandbox_image}"\n'
        cri += f'[plugins.{_CRI}.containerd]\n  snapshotter = "overlayfs"\n'
        cri += '  default_runtime_name = "runc"\n'
        cri += (
            f'[plugins.{_CRI}.containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n'
        )
        cri += f"[plugins.{_CRI}.containerd.runtimes.runc.options]\n  SystemdCgroup = false\n"
        cri += f'[plugins.{_CRI}.cni]\n  bin_dir = "/usr/lib/cni"\n  conf_dir = "{net}"\n'
        cri += "  max_conf_num = 1\n"
        if registry:  # plain HTTP to the bench's registry (containerd 1.6's mirrors)
            cri += f'[plugins.{_CRI}.registry.mirrors."{registry}"]\n'
            cri += f'  endpoint = ["http://{registry}"]\n'
        return cri

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
