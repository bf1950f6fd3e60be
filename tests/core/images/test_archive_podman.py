"""Interoperability with Debian's podman: each loads what the other saves.

podman runs on a private store under a temporary directory (vfs driver, its
own run, tmp and network-config dirs, the CNI backend, which creates nothing
under /run) and in a private mount namespace with a tmpfs on /var/lib: as root,
podman 4 keeps its blob-info cache in /var/lib/containers/cache whatever
``--root`` says, and the host's must not be touched.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from pouch.models import ContainerConfig
from pouch.testing.images import LayerBuilder

if TYPE_CHECKING:
    from pouch.engine import Engine

pytestmark = [pytest.mark.anyio, pytest.mark.root, pytest.mark.binary("podman", "unshare")]

FORMATS = ["docker-archive", "oci-archive"]
_IN_PRIVATE_VAR_LIB = 'mount -t tmpfs -o size=16m,mode=0755 pouch-test /var/lib && exec "$@"'


class Podman:
    """Runs podman on a store under ``root``; nothing outside it is written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "containers.conf").write_text('[network]\nnetwork_backend = "cni"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(root / "containers.conf")}
        self.env["TMPDIR"] = str(root)  # podman's big temporary files

    def __call__(self, *args: str | Path) -> str:
        command = [
            *("unshare", "--mount", "--propagation", "private", "--"),
            *("sh", "-c", _IN_PRIVATE_VAR_LIB, "sh"),
            *("podman", "--root", self.root / "root", "--runroot", self.root / "run"),
            *("--tmpdir", self.root / "tmp", "--network-config-dir", self.root / "net"),
            *("--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"),
            *("--events-backend", "none", *args),
        ]
        done = subprocess.run(
            [str(part) for part in command], env=self.env, capture_output=True, timeout=120
        )
        if done.returncode:
            raise AssertionError(f"podman {' '.join(map(str, args))}: {done.stderr.decode()}")
        return done.stdout.decode()

    def names(self) -> set[str]:
        return set(self("images", "--format", "{{.Repository}}:{{.Tag}}").split())

    def inspect(self, ref: str) -> tuple[str, list[str]]:
        """The image's id (``sha256:…``, its config digest) and layer diffIDs."""
        out = self(
            "image", "inspect", "--format", "{{.Id}} {{range .RootFS.Layers}}{{.}} {{end}}", ref
        )
        image_id, *layers = out.split()
        return f"sha256:{image_id}", layers


@pytest.fixture
def podman() -> Iterator[Podman]:
    root = Path(tempfile.mkdtemp(prefix="pouch-podman-", dir="/tmp"))
    try:
        yield Podman(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def hello_image(engine: Engine) -> str:
    data = LayerBuilder().file("hello", b"world\n").tobytes(compress=True)
    await anyio.to_thread.run_sync(
        engine.images.store.import_rootfs, io.BytesIO(data), "example.com/hello:1"
    )
    return "example.com/hello:1"


async def run(engine: Engine, image: str) -> None:
    """A container of ``image`` runs (the process runtime: the command runs on the host)."""
    with anyio.fail_after(60):
        container = await engine.create(ContainerConfig(image=image, cmd=["sh", "-c", "exit 4"]))
        await engine.start(container.id)
        assert await engine.wait(container.id) == 4
        await engine.remove(container.id)


@pytest.mark.parametrize("format", FORMATS)
async def test_pouch_save_loads_into_podman(
    engine: Engine, busybox: str, podman: Podman, tmp_path: Path, format: str
) -> None:
    busybox_image = await engine.images.inspect(busybox)
    hello = await hello_image(engine)
    hello_image_ = await engine.images.inspect(hello)
    archive = tmp_path / f"{format}.tar"
    with archive.open("wb") as out:
        await engine.images.save([busybox, hello], out, format=format)  # type: ignore[arg-type]
    if format == "docker-archive":
        podman("load", "--input", archive)
    else:  # podman 4 loads only single-image OCI archives; pull picks one by its ref.name
        for name in ("docker.io/library/busybox:latest", "example.com/hello:1"):
            podman("pull", f"oci-archive:{archive}:{name}")
    assert podman.names() == {"docker.io/library/busybox:latest", "example.com/hello:1"}
    for image in (busybox_image, hello_image_):
        assert podman.inspect(image.names[0]) == (image.id, image.diff_ids)


async def test_pouch_oci_archive_of_one_image_loads_into_podman(
    engine: Engine, busybox: str, podman: Podman, tmp_path: Path
) -> None:
    image = await engine.images.inspect(busybox)
    archive = tmp_path / "busybox.tar"
    with archive.open("wb") as out:
        await engine.images.save([busybox], out, format="oci-archive")
    podman("load", "--input", archive)
    assert podman.names() == {"docker.io/library/busybox:latest"}
    assert podman.inspect("busybox") == (image.id, image.diff_ids)


@pytest.mark.parametrize("format", FORMATS)
async def test_podman_save_loads_into_pouch(
    engine: Engine, busybox_rootfs: Path, podman: Podman, tmp_path: Path, format: str
) -> None:
    podman("import", "--change", 'CMD ["sh"]', busybox_rootfs, "docker.io/library/bbx:1")
    podman_id, podman_layers = podman.inspect("docker.io/library/bbx:1")
    archive = tmp_path / f"{format}.tar"
    podman("save", "--format", format, "--output", archive, "docker.io/library/bbx:1")
    lines: list[str] = []
    with archive.open("rb") as source:
        [loaded] = await engine.images.load(source, progress=lines.append)
    assert lines == ["Loaded image: docker.io/library/bbx:1"]
    image = await engine.images.inspect("bbx:1")
    assert (image.id, image.diff_ids) == (podman_id, podman_layers) == (loaded.id, loaded.diff_ids)
    assert image.config.cmd == ["sh"]
    await run(engine, "bbx:1")


async def test_podman_multi_image_archive_loads_into_pouch(
    engine: Engine, busybox_rootfs: Path, podman: Podman, tmp_path: Path
) -> None:
    """podman writes the legacy layout (``<diffid>.tar``, symlinked ``layer.tar``)."""
    podman("import", busybox_rootfs, "example.com/one:1")
    podman("tag", "example.com/one:1", "example.com/one:2")
    hello = tmp_path / "hello.tar"
    LayerBuilder().file("hello", b"world\n").write(hello)
    podman("import", hello, "example.com/two:1")
    archive = tmp_path / "multi.tar"
    refs = ["example.com/one:1", "example.com/one:2", "example.com/two:1"]
    podman(
        "save", "--multi-image-archive", "--format", "docker-archive", "--output", archive, *refs
    )
    with archive.open("rb") as source:
        loaded = await engine.images.load(source)
    assert sorted(name for image in loaded for name in image.names) == refs
    for ref in refs:
        assert (await engine.images.inspect(ref)).id == podman.inspect(ref)[0]
    await run(engine, "example.com/one:2")
