"""Three pouchd nodes pulling one image: pouch-p2p against plain pulls.

Run by hand, as root, never in CI::

    .venv/bin/python bench/p2p.py [--rounds 1] [--layers 5] [--layer-mb 21] [--json PATH]

Each node is a pouchd in a network namespace of its own (10.233.0.11-13 on a
bridge ``pp2p0``), with its own state root; Debian's ``docker-registry`` runs
in a fourth (10.233.0.10:5000) and logs every request. The image is busybox
plus ``--layers - 1`` layers of random bytes (``--layer-mb`` each, 85 MB in
all by default). In every round, for each mode (interleaved): node 1 pulls,
then nodes 2 and 3 pull at the same moment, then each node runs the image
(``run --rm --network none IMAGE true``). ``p2p`` runs the nodes with
pouch-p2p (each other's static peers, a shared token); ``plain`` with the
plugin disabled. Printed per mode: the time of node 1's pull, of the
concurrent pulls of nodes 2 and 3, and what the registry served (blob GETs
and bytes, from its log). Everything it made — namespaces, bridge, daemons
(by PID), directories — is removed at the end, also after a failure.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pouch.testing.images import LayerBuilder
from pouch.testing.registry import REGISTRY_BINARY, Registry
from pouch.testing.registry_images import busybox_layer_bytes, image_from_layers, push_test_image

BRIDGE, SUBNET = "pp2p0", "10.233.0"
REGISTRY_IP, PORT, PEER_PORT = f"{SUBNET}.10", 5000, 5050
TOKEN = "bench-p2p-shared-token-0123456789"
BIN = Path(sys.executable).parent


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


@contextmanager
def namespaces(names: list[str], addresses: list[str]) -> Iterator[None]:
    """A bridge with the host on .1 and one namespace per name on its address."""
    try:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for index, (name, address) in enumerate(zip(names, addresses, strict=True)):
            host_end, ns_end = f"pp2p{index}h", f"pp2p{index}n"
            sh("ip", "netns", "add", name)
            sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            sh("ip", "link", "set", host_end, "master", BRIDGE, "up")
            sh("ip", "link", "set", ns_end, "netns", name)
            sh("ip", "-n", name, "addr", "add", f"{address}/24", "dev", ns_end)
            sh("ip", "-n", name, "link", "set", ns_end, "up")
            sh("ip", "-n", name, "link", "set", "lo", "up")
        yield
    finally:
        for name in names:
            sh("ip", "netns", "del", name, check=False)
        sh("ip", "link", "del", BRIDGE, check=False)


@contextmanager
def process(args: list[str], log: Path, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def registry(stack: ExitStack, work: Path) -> Registry:
    root = work / "registry"
    root.mkdir()
    config = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "json", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"{REGISTRY_IP}:{PORT}", "secret": "pouch-bench"},
    }
    (root / "config.yml").write_text(json.dumps(config))
    args = ["nsenter", "--net=/run/netns/pp2p-reg", str(REGISTRY_BINARY), "serve"]
    proc = stack.enter_context(process([*args, str(root / "config.yml")], root / "registry.log"))
    ping = ["curl", "-sf", f"http://{REGISTRY_IP}:{PORT}/v2/"]
    wait_for(lambda: sh(*ping, check=False).returncode == 0, "the registry")
    return Registry(address=f"{REGISTRY_IP}:{PORT}", root=root, pid=proc.pid)


def node_config(index: int, addresses: list[str], p2p: bool) -> str:
    peers = ", ".join(f'"{a}:{PEER_PORT}"' for n, a in enumerate(addresses) if n != index)
    lines = [
        'default_network = "none"',
        "[registries]",
        f'insecure = ["{REGISTRY_IP}:{PORT}"]',
    ]
    if p2p:
        lines += [
            "[plugin.p2p]",
            f'listen = "{addresses[index]}:{PEER_PORT}"',
            f'token = "{TOKEN}"',
            f"peers = [{peers}]",
        ]
    else:
        lines += ["[plugins]", 'disable = ["p2p"]']
    return "\n".join(lines) + "\n"


def start_nodes(stack: ExitStack, work: Path, addresses: list[str], p2p: bool) -> list[Path]:
    sockets = []
    for index in range(len(addresses)):
        home = work / f"n{index + 1}"
        home.mkdir()
        (home / "pouchd.toml").write_text(node_config(index, addresses, p2p))
        sock = home / "pouchd.sock"
        args = [
            "nsenter",  # not `ip netns exec`, whose fresh /sys hides the cgroup mounts
            f"--net=/run/netns/pp2p-n{index + 1}",
            str(BIN / "pouchd"),
            "--config",
            str(home / "pouchd.toml"),
            "--root",
            str(home / "root"),
            "--run-root",
            str(home / "run"),
            "-H",
            f"unix://{sock}",
        ]
        stack.enter_context(process(args, home / "pouchd.log"))
        sockets.append(sock)
    for sock in sockets:
        wait_for(lambda s=sock: pouch(s, "version").returncode == 0, f"pouchd at {sock}")
    return sockets


def pouch(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sh(str(BIN / "pouch"), "-H", f"unix://{sock}", *args, check=False)


def timed(*procs: Callable[[], subprocess.CompletedProcess[str]]) -> float:
    """Run the calls at once (threads); their wall time; raise if one failed."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.monotonic()
    with ThreadPoolExecutor(len(procs)) as pool:
        results = list(pool.map(lambda call: call(), procs))
    elapsed = time.monotonic() - start
    for result in results:
        if result.returncode != 0:
            raise RuntimeError(f"{result.args}: {result.stderr.strip()}")
    return elapsed


def one_round(
    work: Path, reg: Registry, ref: str, sizes: dict[str, int], p2p: bool
) -> dict[str, Any]:
    addresses = [f"{SUBNET}.{11 + n}" for n in range(3)]
    before = len(reg.blob_gets())
    with ExitStack() as stack:
        sockets = start_nodes(stack, work, addresses, p2p)
        first = timed(functools.partial(pouch, sockets[0], "pull", "-q", ref))
        others = timed(*(functools.partial(pouch, s, "pull", "-q", ref) for s in sockets[1:]))
        results = [pouch(s, "run", "--rm", "--network", "none", ref, "true") for s in sockets]
        ran = [r.returncode for r in results]
        for result in results:
            if result.returncode:
                print(f"run failed: {result.stderr.strip()}", file=sys.stderr)
    served = reg.blob_gets()[before:]
    digests = [r.uri.rpartition("/")[2] for r in served if r.status in (200, 206)]
    return {
        "mode": "p2p" if p2p else "plain",
        "first_pull_s": round(first, 3),
        "two_at_once_s": round(others, 3),
        "registry_blob_gets": len(digests),
        "registry_mb": round(sum(sizes.get(d, 0) for d in digests) / 1e6, 1),
        "runs_ok": ran == [0, 0, 0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--layers", type=int, default=5, help="layers, busybox included")
    parser.add_argument("--layer-mb", type=float, default=21.0, help="MB of each random layer")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run as root: it makes network namespaces and runs pouchd")
    layers = [busybox_layer_bytes()] + [
        LayerBuilder().file(f"data/{n}", os.urandom(int(args.layer_mb * 1e6))).tobytes()
        for n in range(args.layers - 1)
    ]
    image = image_from_layers(layers)
    sizes = {d: len(b) for d, b in image.blobs.items()}
    names = ["pp2p-reg", "pp2p-n1", "pp2p-n2", "pp2p-n3"]
    addresses = [REGISTRY_IP] + [f"{SUBNET}.{11 + n}" for n in range(3)]
    rows = []
    work = Path(tempfile.mkdtemp(prefix="pouch-bench-p2p-"))
    try:
        with namespaces(names, addresses), ExitStack() as stack:
            reg = registry(stack, work)
            push_test_image(reg.address, "bench/big", image, insecure=True)
            ref = f"{reg.address}/bench/big"
            print(f"image: {len(layers)} layers, {sum(sizes.values()) / 1e6:.1f} MB", flush=True)
            for round_ in range(args.rounds):
                for p2p in (True, False):
                    round_dir = work / f"r{round_}-{'p2p' if p2p else 'plain'}"
                    round_dir.mkdir()
                    row = one_round(round_dir, reg, ref, sizes, p2p)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        "| mode | node 1 pull | nodes 2+3 at once | registry blob GETs | registry MB | ran on all |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['mode']} | {row['first_pull_s']:.2f} s | {row['two_at_once_s']:.2f} s | "
            f"{row['registry_blob_gets']} | {row['registry_mb']} | {row['runs_ok']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
