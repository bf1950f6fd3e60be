"""The benchmark's images, built offline and pushed once to the local registry.

``busybox``: one layer made from Debian's busybox-static binary (the same
image the quickstart and the tests use). ``big``: about 85 MB in five layers
of random bytes from a seeded generator, so that compression cannot shrink
it and every run pushes the same digests. ``pause``: pouch's own static pause
binary (``pouch_cri._pause.build_pause``, the infra process of pouch's pods) as
a one-layer image, the sandbox image of containerd's CRI, so both engines'
pods hold the same infra process. ``runc_bundle`` unpacks busybox into an OCI
bundle for bare ``runc run``, the floor of the start figures. Nothing here
talks to anything but the registry on 127.0.0.1.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from _procs import BenchError, run

from pouch.errors import PouchError
from pouch.oci.image import ImageConfig
from pouch.testing.images import BUSYBOX_CONFIG, LayerBuilder
from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

__all__ = ["BIG_LAYERS", "BIG_SIZE", "Images", "push_images", "push_pause", "runc_bundle"]

BIG_LAYERS = 5
BIG_SIZE = 85 * 1000 * 1000  # bytes of file content over all layers
_FILES_PER_LAYER = 4
_SEED = 20240501


class Images:
    """References of the pushed images (``127.0.0.1:PORT/name:latest``)."""

    def __init__(self, registry: str) -> None:
        self.registry = registry
        self.busybox = f"{registry}/busybox:latest"
        self.big = f"{registry}/big:latest"
        self.big_bytes = 0  # compressed bytes over the big image's layers
        self.pause = ""  # f"{registry}/pause:1.0" once pushed


def big_layers() -> list[bytes]:
    """Five gzip layers of seeded random files, ``BIG_SIZE`` bytes of content in all."""
    rng = random.Random(_SEED)
    per_file = BIG_SIZE // (BIG_LAYERS * _FILES_PER_LAYER)
    layers = []
    for n in range(BIG_LAYERS):
        layer = LayerBuilder()
        for m in range(_FILES_PER_LAYER):
            layer.file(f"data/{n}/blob{m}", rng.randbytes(per_file))
        layers.append(layer.tobytes(compress=True))
    return layers


def push_images(registry: str, *, big: bool = True) -> Images:
    """Build the images and push them to ``registry`` (the big one only when ``big``)."""
    images = Images(registry)
    push_image_to_registry(registry, "busybox", [busybox_layer_bytes()], BUSYBOX_CONFIG)
    if big:
        layers = big_layers()
        images.big_bytes = sum(len(layer) for layer in layers)
        push_image_to_registry(registry, "big", layers, BUSYBOX_CONFIG)
    return images


def push_pause(images: Images) -> None:
    """Push pouch's pause binary as ``pause:1.0``, one layer with ``/pause`` as entrypoint."""
    try:
        from pouch_cri._pause import build_pause

        binary = build_pause()
    except (ImportError, PouchError, OSError) as exc:
        raise BenchError(f"no pause image for containerd's CRI: {exc}") from exc
    layer = LayerBuilder().copy("pause", binary, 0o755).tobytes(compress=True)
    config = ImageConfig(entrypoint=["/pause"])
    push_image_to_registry(images.registry, "pause", [layer], config, tag="1.0")
    images.pause = f"{images.registry}/pause:1.0"


def runc_bundle(directory: Path) -> Path:
    """An OCI bundle of busybox that runs ``true``: runc's own default spec, read-only root.

    runc's default spec gives the container new pid, network, ipc, uts and
    mount namespaces, so it compares with ``--network none`` of the engines.
    """
    rootfs = directory / "rootfs"
    rootfs.mkdir(parents=True)
    tar = directory / "busybox.tar"
    tar.write_bytes(busybox_layer_bytes(""))
    subprocess.run(["tar", "-xf", str(tar), "-C", str(rootfs)], check=True, timeout=60)
    tar.unlink()
    run(["runc", "spec", "--bundle", str(directory)])
    config_path = directory / "config.json"
    spec = json.loads(config_path.read_text())
    spec["process"]["args"] = ["true"]
    spec["process"]["terminal"] = False
    spec["root"]["readonly"] = True
    config_path.write_text(json.dumps(spec, indent=2))
    return directory
