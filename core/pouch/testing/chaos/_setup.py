"""The stage of a chaos run: a pouchd on a CNI bridge, busybox, a registry to pull from.

``staged()`` starts (and at the end stops and cleans up) a real pouchd with
the runtimes this host has among those asked for, its default network a
CNI bridge where the CNI plugins are installed, busybox imported and saved
to an archive for ``load``, and a real registry holding two small images
for ``pull`` where Debian's docker-registry is installed. The default
network's bridge is removed at the end with its rules.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pouch.testing.chaos._leaks import HostView
from pouch.testing.chaos._ledger import Ledger
from pouch.testing.chaos._ops import Client, Operations
from pouch.testing.daemon import (
    PouchDaemon,
    cni_bridge_settings,
    import_busybox_api,
    running_pouchd,
)
from pouch.testing.images import BUSYBOX_PATH, LayerBuilder, busybox_rootfs_tar

__all__ = ["Stage", "remove_bridge", "staged", "unavailable"]

IMAGE = "busybox:latest"


@dataclass
class Stage:
    daemon: PouchDaemon
    operations: Operations
    ledger: Ledger
    before: HostView
    runtimes: list[str]
    network: str


def unavailable() -> str | None:
    """Why a chaos run cannot run here, or None."""
    if os.geteuid() != 0:
        return "chaos runs real containers: needs root"
    if not BUSYBOX_PATH.exists():
        return f"needs {BUSYBOX_PATH} (apt-get install busybox-static)"
    return None


def _cni_available() -> bool:
    return shutil.which("iptables") is not None and Path("/usr/lib/cni/bridge").exists()


@contextlib.contextmanager
def _registry_images() -> Iterator[list[str]]:
    from pouch.testing.registry import REGISTRY_BINARY, running_registry

    if not REGISTRY_BINARY.exists():
        yield []
        return
    from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

    with running_registry() as registry:
        references = []
        for tag in ("one", "two"):
            marker = LayerBuilder().file(f"etc/chaos-{tag}", secrets.token_bytes(4096)).tobytes()
            push_image_to_registry(
                registry.address, "chaos/pull", [busybox_layer_bytes(), marker], tag=tag
            )
            references.append(f"{registry.address}/chaos/pull:{tag}")
        yield references


def _pouch_program() -> Path:
    import sys

    beside = Path(sys.executable).parent / "pouch"
    found = beside if beside.exists() else shutil.which("pouch")
    if found is None:
        raise RuntimeError("the pouch program is not installed (pip install pouch-core)")
    return Path(found)


@contextlib.contextmanager
def staged(work: Path, runtimes: Sequence[str]) -> Iterator[Stage]:
    """A pouchd and everything the operations need, for the block; all removed after."""
    settings: dict[str, object] = {}
    network = "none"
    bridge = ""
    if _cni_available():
        bridge = f"pc{secrets.token_hex(3)}"
        settings = cni_bridge_settings(bridge)
        network = "bridge"
    try:
        with (
            _registry_images() as pullable,
            running_pouchd(work / "pouchd", runtime="runc", settings=settings) as daemon,
        ):
            yield _stage(work, daemon, runtimes, pullable, network)
    finally:
        if bridge:
            remove_bridge(bridge)


def _stage(
    work: Path, daemon: PouchDaemon, runtimes: Sequence[str], pullable: list[str], network: str
) -> Stage:
    have = daemon.json("GET", "/info")["Runtimes"]
    chosen = [r for r in runtimes if r in have]
    if not chosen:
        raise RuntimeError(f"none of the runtimes {list(runtimes)} is available: {have}")
    import_busybox_api(daemon, busybox_rootfs_tar(work))
    archive = work / "busybox.tar"
    status, _, body = daemon.request("GET", f"/images/{IMAGE}/get")
    if status != 200:
        raise RuntimeError(f"saving {IMAGE}: {status} {body[:200]!r}")
    archive.write_bytes(body)
    # The default network's bridge and rules are made on its first use and
    # stay, as docker0 does: made before the baseline, they are not leaks.
    client = Client(_pouch_program(), daemon.host)
    first = client("run", "--rm", IMAGE, "true")
    if first.returncode != 0:
        raise RuntimeError(f"a first container failed: {first.stderr}")
    ledger = Ledger()
    operations = Operations(
        client, ledger, runtimes=chosen, image=IMAGE, pullable=pullable, archive=archive
    )
    assert daemon.process is not None
    before = HostView.take(daemon.root, daemon.run_root, set(), daemon.process.pid)
    return Stage(daemon, operations, ledger, before, chosen, network)


def remove_bridge(name: str) -> None:
    """Delete the default network's bridge and its isolation rules: they outlive
    pouchd by design (as docker0 does), but a test's must not outlive the test."""
    subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False, timeout=30)
    for save, tool in (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")):
        try:
            rules = subprocess.run(
                [save, "-t", "filter"], capture_output=True, text=True, check=False, timeout=30
            ).stdout
        except FileNotFoundError:
            continue
        for line in rules.splitlines():
            if line.startswith("-A ") and re.search(rf"-[io] {re.escape(name)}(\s|$)", line):
                subprocess.run(
                    [tool, "-w", "-t", "filter", "-D", *shlex.split(line[3:])],
                    capture_output=True,
                    check=False,
                    timeout=30,
                )
