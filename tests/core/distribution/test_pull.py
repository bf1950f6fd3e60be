"""Pulling from a real registry (Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import anyio
import pytest

from pouch.distribution import ImageNotFound, PlatformNotAvailable, PullProgress
from pouch.engine import Engine
from pouch.errors import NoSuchImage
from pouch.testing.registry import Registry
from pouch.testing.registry_images import (
    WHITEOUT_DATA,
    TestImage,
    many_layers_image,
    multi_platform_image,
    push_test_image,
    single_layer_image,
    whiteout_image,
    zstd_image,
)

pytestmark = pytest.mark.anyio

Mounted = Callable[[Engine, str, Path], AbstractContextManager[Path]]

LAYER_ORDER = [
    "Pulling fs layer",
    "Waiting",
    "Downloading",
    "Verifying Checksum",
    "Download complete",
    "Extracting",
    "Pull complete",
]


async def push(registry: Registry, name: str, image: TestImage, tag: str = "latest") -> str:
    return await anyio.to_thread.run_sync(
        functools.partial(push_test_image, registry.address, name, image, tag=tag)
    )


def visible(root: Path) -> set[str]:
    found = set()
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(top, name), root))
    return found


def check_layer_order(lines: list[PullProgress]) -> dict[str, list[str]]:
    """Each layer's statuses follow docker's order; returns them per layer."""
    per_layer: dict[str, list[str]] = {}
    for line in lines:
        if len(line.id) == 12 and line.status in LAYER_ORDER:
            statuses = per_layer.setdefault(line.id, [])
            if not statuses or statuses[-1] != line.status:
                statuses.append(line.status)
    for layer, statuses in per_layer.items():
        positions = [LAYER_ORDER.index(s) for s in statuses]
        assert positions == sorted(positions), (layer, statuses)
    return per_layer


async def test_pull_by_tag_lists_the_image_and_reports_progress_in_order(
    engine: Engine, registry: Registry
) -> None:
    digest = await push(registry, "busybox", whiteout_image())
    lines: list[PullProgress] = []
    ref = f"{registry.address}/busybox:latest"

    image = await engine.images.pull(ref, progress=lines.append)

    listed = {i.id: i for i in await engine.images.list()}
    assert image.id in listed
    assert listed[image.id].names == [ref]
    assert listed[image.id].digests == [f"{registry.address}/busybox@{digest}"]
    assert listed[image.id].size > 1_000_000  # busybox is in there
    assert lines[0] == PullProgress(status="Pulling from busybox", id="latest")
    per_layer = check_layer_order(lines)
    assert len(per_layer) == 3
    for statuses in per_layer.values():
        assert statuses[0] == "Pulling fs layer"
        assert statuses[-3:] == ["Download complete", "Extracting", "Pull complete"]
        assert "Verifying Checksum" in statuses
    downloading = [line for line in lines if line.status == "Downloading"]
    assert all(0 <= line.current <= line.total for line in downloading)
    assert [line.status for line in lines[-2:]] == [
        f"Digest: {digest}",
        f"Status: Downloaded newer image for {ref}",
    ]
    pulls = [e for e in engine.events.history() if e.type == "image" and e.action == "pull"]
    assert [e.id for e in pulls] == [ref]


async def test_pull_by_digest(engine: Engine, registry: Registry) -> None:
    digest = await push(registry, "app", single_layer_image(docker=True), tag="v1")
    ref = f"{registry.address}/app@{digest}"
    image = await engine.images.pull(ref)
    assert image.names == []  # a digest is not a tag
    assert f"{registry.address}/app@{digest}" in image.digests
    assert (await engine.images.inspect(ref)).id == image.id


async def test_second_pull_downloads_no_blob_and_is_up_to_date(
    engine: Engine, registry: Registry
) -> None:
    await push(registry, "busybox", single_layer_image())
    ref = f"{registry.address}/busybox"
    first = await engine.images.pull(ref)
    gets = len(registry.blob_gets())
    assert gets == 2  # config and layer
    lines: list[PullProgress] = []
    second = await engine.images.pull(ref, progress=lines.append)
    assert second.id == first.id
    assert len(registry.blob_gets()) == gets
    assert lines[-1].status == f"Status: Image is up to date for {ref}:latest"
    assert {line.status for line in lines if len(line.id) == 12} == {"Already exists"}


async def test_concurrent_pulls_of_one_image_download_each_blob_once(
    engine: Engine, registry: Registry
) -> None:
    await push(registry, "many", many_layers_image(12))
    ref = f"{registry.address}/many:latest"
    ids: list[str] = []

    async def pull() -> None:
        ids.append((await engine.images.pull(ref)).id)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(pull)
    assert len(set(ids)) == 1 and len(ids) == 3
    gets = [r.uri for r in registry.blob_gets()]
    assert len(gets) == len(set(gets)) == 13  # 12 layers and the config, once each


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-list"])
async def test_platform_is_chosen_from_an_index(
    engine: Engine, registry: Registry, docker: bool
) -> None:
    index = multi_platform_image(docker=docker)
    top = await push(registry, "multi", index)
    ref = f"{registry.address}/multi:latest"

    arm = await engine.images.pull(ref, platform="linux/arm64")
    assert (arm.architecture, arm.variant) == ("arm64", "v8")
    assert arm.manifest == index.children[1].digest
    assert f"{registry.address}/multi@{top}" in arm.digests

    amd = await engine.images.pull(ref, platform="linux/amd64")
    assert amd.architecture == "amd64" and amd.id != arm.id

    with pytest.raises(PlatformNotAvailable) as caught:
        await engine.images.pull(ref, platform="linux/s390x")
    assert isinstance(caught.value, NoSuchImage)
    message = str(caught.value)
    assert "linux/s390x" in message and ref in message
    assert "linux/amd64" in message and "linux/arm64/v8" in message


async def test_unknown_image_is_a_404_naming_the_reference(
    engine: Engine, registry: Registry
) -> None:
    ref = f"{registry.address}/nothere:1.0"
    with pytest.raises(ImageNotFound) as caught:
        await engine.images.pull(ref)
    assert isinstance(caught.value, NoSuchImage) and caught.value.status == 404
    assert ref in str(caught.value)
    assert await engine.images.list() == []


@pytest.mark.root
async def test_whiteouts_show_exactly_the_expected_files(
    engine: Engine, registry: Registry, mounted: Mounted, short_dir: Path
) -> None:
    await push(registry, "wh", whiteout_image())
    ref = f"{registry.address}/wh"
    await engine.images.pull(ref)
    with mounted(engine, ref, short_dir / "mnt") as root:
        files = visible(root)
        assert "bin/busybox" in files and "etc/passwd" in files
        assert "etc/motd" not in files
        assert {f for f in files if f.startswith("opt/")} == set()
        assert "opt" in files
        assert {f.removeprefix("data/") for f in files if f.startswith("data/")} == WHITEOUT_DATA
        assert not [f for f in files if ".wh." in f]
        assert (root / "data" / "new").read_bytes() == b"n\n"


@pytest.mark.root
async def test_an_image_of_105_layers_pulls_and_mounts(
    engine: Engine, registry: Registry, mounted: Mounted, short_dir: Path
) -> None:
    await push(registry, "tall", many_layers_image(105))
    ref = f"{registry.address}/tall"
    image = await engine.images.pull(ref)
    assert len(image.layers) == 105
    with mounted(engine, ref, short_dir / "mnt") as root:
        assert sorted(os.listdir(root / "layers")) == [f"{n:03d}" for n in range(1, 105)]
        assert (root / "layers" / "104").read_text() == "104\n"


@pytest.mark.root
async def test_zstd_layers_pull_and_unpack(
    engine: Engine, registry: Registry, mounted: Mounted, short_dir: Path
) -> None:
    await push(registry, "zstd", zstd_image())
    ref = f"{registry.address}/zstd"
    await engine.images.pull(ref)
    with mounted(engine, ref, short_dir / "mnt") as root:
        assert (root / "zstd").read_text() == "zstd layer\n"
        assert (root / "bin" / "busybox").stat().st_size > 100_000
