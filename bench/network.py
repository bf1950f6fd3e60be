"""Network setup and teardown per container: pouch's CNI bridge against podman's.

Run by hand, as root, never in CI::

    /work/venv/bin/python bench/network.py [--rounds 20] [--json results.json]

Both engines run the same Debian CNI plugins (bridge + host-local, portmap,
firewall) from /usr/lib/cni with the same configuration list, each on a
bridge and subnet of its own (10.231.240.0/24 and 10.231.241.0/24), and the
same busybox rootfs under runc and conmon. podman runs from a private root,
runroot, tmpdir and CNI config dir (``--network-backend cni``, cgroupfs, the
ulimits this host allows) under a temporary directory.

The figure is the cost of the network per container: in every round each
engine runs ``run --rm busybox true`` once on its bridge network and once with
``--network none``, interleaved (pouch, podman, pouch, podman), and the
difference of the two is that round's network setup + teardown time. pouch
runs in-process (the engine as a library) and podman through its CLI; the
difference cancels what each spends outside the network. The time of the
pouch driver's ADD + DEL alone (on a pinned namespace) is shown beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from pouch_cni import BridgeDriver
from pouch_cni._host import remove_bridge
from pouch_cni._netconf import build_conflist, parse_options

from pouch import ContainerConfig, Engine
from pouch.config import EngineConfig
from pouch.drivers import Sandbox
from pouch.netns import create_netns, remove_netns
from pouch.testing import import_busybox, remove_all_containers
from pouch.testing.images import busybox_rootfs_tar

POUCH_NET, POUCH_SUBNET = "pbench-pouch", "10.231.240.0/24"
PODMAN_NET, PODMAN_SUBNET = "pbench-podman", "10.231.241.0/24"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "{cni}"
"""

Series = dict[str, list[float]]


class Podman:
    """podman on private directories, with a conflist written like pouch's."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.cni = base / "cni"
        self.cni.mkdir(parents=True)
        conf = base / "containers.conf"
        conf.write_text(CONTAINERS_CONF.format(cni=self.cni))
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf))
        self.argv = ["podman", "--root", str(base / "root"), "--runroot", str(base / "runroot")]
        self.argv += ["--tmpdir", str(base / "tmp"), "--network-backend", "cni"]
        self.argv += ["--cgroup-manager", "cgroupfs"]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, *args], env=self.env, capture_output=True, text=True, check=True
        )

    def setup(self, rootfs: Path) -> None:
        self("import", str(rootfs), "localhost/busybox:latest")
        spec = parse_options(
            PODMAN_NET, {"subnet": PODMAN_SUBNET}, bridge="pbpodman0", default_subnet=""
        )
        conflist = build_conflist(spec, "1.0.0", self.base / "ipam")
        (self.cni / f"{PODMAN_NET}.conflist").write_text(json.dumps(conflist, indent=2))

    def run(self, network: str) -> float:
        start = time.perf_counter()
        self("run", "--rm", "--network", network, "localhost/busybox:latest", "true")
        return time.perf_counter() - start

    async def teardown(self) -> None:
        for args in (("rm", "-af"), ("system", "reset", "-f")):
            await anyio.run_process([*self.argv, *args], env=self.env, check=False)
        await remove_bridge("pbpodman0")


class Pouch:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def setup(self, rootfs: Path) -> None:
        await import_busybox(self.engine, rootfs)
        options = {"subnet": POUCH_SUBNET, "bridge": "pbpouch0"}
        await self.engine.networks.create(POUCH_NET, driver="bridge", options=options)

    async def run(self, network: str) -> float:
        start = time.perf_counter()
        config = ContainerConfig(image="busybox", cmd=["true"], networks=[network])
        container = await self.engine.create(config)
        await self.engine.start(container.id)
        await self.engine.wait(container.id)
        await self.engine.remove(container.id)
        return time.perf_counter() - start

    async def attach_detach(self, index: int) -> tuple[float, float]:
        """The driver's ADD + DEL alone, and pinning + releasing the namespace."""
        driver = self.engine.kernel.networks.get("bridge")
        assert isinstance(driver, BridgeDriver)
        path = self.engine.config.run_root / "netns" / f"bench{index}"
        sandbox = Sandbox(id=f"bench{index}", name=f"bench{index}")
        start = time.perf_counter()
        sandbox.netns_path = str(await create_netns(path))
        pinned = time.perf_counter() - start
        try:
            start = time.perf_counter()
            attachment = await driver.attach(sandbox, POUCH_NET, {})
            await driver.detach(sandbox, attachment)
            cni = time.perf_counter() - start
        finally:
            start = time.perf_counter()
            await remove_netns(path)
            pinned += time.perf_counter() - start
        return cni, pinned

    async def teardown(self) -> None:
        await remove_all_containers(self.engine)
        await self.engine.networks.remove(POUCH_NET)


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):8.1f} {min(ms):8.1f} {max(ms):8.1f}"


def report(series: Series, rounds: int) -> dict[str, Any]:
    deltas = {
        engine: [
            n - o for n, o in zip(series[f"{engine} net"], series[f"{engine} none"], strict=True)
        ]
        for engine in ("pouch", "podman")
    }
    print(f"\nnetwork setup + teardown per container, {rounds} rounds after warm-up (ms)")
    print(f"{'':34} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in series.items():
        print(f"{name:34} {summary(values)}")
    for engine, values in deltas.items():
        print(f"{engine + ': network cost (net - none)':34} {summary(values)}")
    ratio = statistics.median(deltas["pouch"]) / statistics.median(deltas["podman"])
    print(f"\nratio pouch/podman (median network cost): {ratio:.2f}")
    if ratio > 1:
        print(f"pouch is BEHIND podman: its network setup + teardown takes {ratio:.2f}x as long.")
    else:
        print(f"pouch is ahead of podman: {1 / ratio:.2f}x faster network setup + teardown.")
    return {"series_s": series, "network_cost_s": deltas, "ratio_pouch_podman": ratio}


async def measure(rounds: int, warmup: int) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="pouch-bench-net-", dir="/tmp"))
    rootfs = busybox_rootfs_tar(base / "image")
    podman = Podman(base / "podman")
    config = EngineConfig(root=base / "root", run_root=base / "run", default_network="none")
    series: Series = {k: [] for k in ("pouch net", "pouch none", "podman net", "podman none")}
    series["pouch driver ADD+DEL only"] = []
    series["pouch netns pin + release"] = []
    try:
        async with Engine(config) as engine:
            pouch = Pouch(engine)
            try:
                await pouch.setup(rootfs)
                await anyio.to_thread.run_sync(podman.setup, rootfs)
                steps: list[tuple[str, Callable[[], Any]]] = [
                    ("pouch net", lambda: pouch.run(POUCH_NET)),
                    ("podman net", lambda: anyio.to_thread.run_sync(podman.run, PODMAN_NET)),
                    ("pouch none", lambda: pouch.run("none")),
                    ("podman none", lambda: anyio.to_thread.run_sync(podman.run, "none")),
                ]
                for index in range(warmup + rounds):
                    for name, step in steps:
                        elapsed = await step()
                        if index >= warmup:
                            series[name].append(elapsed)
                    cni, pinning = await pouch.attach_detach(index)
                    if index >= warmup:
                        series["pouch driver ADD+DEL only"].append(cni)
                        series["pouch netns pin + release"].append(pinning)
                    print(".", end="", flush=True)
            finally:
                await pouch.teardown()
                await podman.teardown()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return report(series, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/network.py needs root (namespaces, bridges, iptables)", file=sys.stderr)
        return 2
    missing = [p for p in ("podman", "runc", "conmon", "iptables") if shutil.which(p) is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install them)", file=sys.stderr)
        return 2
    results = anyio.run(measure, args.rounds, args.warmup)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
