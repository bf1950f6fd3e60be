"""The stage of a chaos run: a pouchd on a CNI bridge, busybox, a registry to pull from.

``staged()`` starts (and at the end stops and cleans up) a real pouchd with
the runtimes this host has among those asked for, its default network a
CNI bridge where the CNI plugins are installed, busybox imported and saved
to an archive for ``load``, and a real registry holding two small images
for ``pull`` where Debian's docker-registry is installed.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
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
from pouch.testing.images import LayerBuilder, busybox_rootfs_tar

__all__ = ["Stage", "staged"]

IMAGE = "busybox:latest"


@dataclass
class Stage:
    daemon: PouchDaemon
    operations: Operations
    ledger: Ledger
    before: HostView
    runtimes: list[str]
    network: str


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
    if _cni_available():
        settings = cni_bridge_settings(f"pc{secrets.token_hex(3)}")
        network = "bridge"
    with (
        _registry_images() as pullable,
        running_pouchd(work / "pouchd", runtime="runc", settings=settings) as daemon,
    ):
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
        yield Stage(daemon, operations, ledger, before, chosen, network)
