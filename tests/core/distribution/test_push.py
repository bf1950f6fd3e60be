"""Pushing local images to a real registry and pulling them back."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from pouch.distribution import PullProgress
from pouch.engine import Engine
from pouch.errors import InvalidArgument, NoSuchImage
from pouch.oci.image import ImageConfig
from pouch.testing.images import LayerBuilder
from pouch.testing.registry import Registry

pytestmark = pytest.mark.anyio


async def test_push_then_pull_into_a_fresh_engine_gives_the_same_image(
    engine: Engine, busybox: str, registry: Registry, make_engine: Callable[..., Any]
) -> None:
    target = f"{registry.address}/pushed/busybox:1.0"
    await engine.images.tag(busybox, target)
    lines: list[PullProgress] = []
    digest = await engine.images.push(target, progress=lines.append)

    local = await engine.images.inspect(target)
    assert digest == local.manifest
    assert f"{registry.address}/pushed/busybox@{digest}" in local.digests
    statuses = [line.status for line in lines]
    assert statuses[0] == f"The push refers to repository [{registry.address}/pushed/busybox]"
    assert "Pushed" in statuses
    assert statuses[-1].startswith(f"1.0: digest: {digest} size: ")
    pushes = [e for e in engine.events.history() if e.action == "push"]
    assert [e.id for e in pushes] == [target]

    async with make_engine() as fresh:
        pulled = await fresh.images.pull(target)
    assert pulled.id == local.id
    assert pulled.diff_ids == local.diff_ids

    again: list[PullProgress] = []
    assert await engine.images.push(target, progress=again.append) == digest
    assert "Layer already exists" in [line.status for line in again]
    assert "Pushed" not in [line.status for line in again]


async def test_chunked_upload(engine: Engine, busybox: str, registry: Registry) -> None:
    target = f"{registry.address}/chunked:latest"
    await engine.images.tag(busybox, target)
    push = functools.partial(engine.images.distribution.push, target, chunk_size=256 * 1024)
    digest = await anyio.to_thread.run_sync(push)
    patches = [r for r in registry.requests() if r.method == "PATCH"]
    assert len(patches) >= 4  # the ~1 MB busybox layer in 256 KiB pieces
    assert digest == (await engine.images.inspect(target)).manifest


async def test_push_refuses_digests_and_unknown_images(engine: Engine, registry: Registry) -> None:
    with pytest.raises(NoSuchImage):
        await engine.images.push(f"{registry.address}/missing:1")
    with pytest.raises(InvalidArgument):
        await engine.images.push(f"{registry.address}/x@sha256:{'0' * 64}")


async def test_import_and_prune_publish_events(engine: Engine, busybox_rootfs: Path) -> None:
    first = await engine.images.import_rootfs(busybox_rootfs, "local/app:1")
    marker = busybox_rootfs.parent / "other.tar"
    marker.write_bytes(LayerBuilder().file("marker", b"2").tobytes())
    second = await engine.images.import_rootfs(
        marker, "local/app:1"
    )  # the first one is now dangling
    assert first.id != second.id
    collected = await engine.images.prune()
    assert collected.images == [first.id]
    assert [i.id for i in await engine.images.list()] == [second.id]
    actions = [(e.action, e.id) for e in engine.events.history() if e.type == "image"]
    assert ("import", first.id) in actions and ("import", second.id) in actions
    assert ("delete", first.id) in actions
    assert actions[-1][0] == "prune"


async def test_push_image_to_registry_helper(engine: Engine, registry: Registry) -> None:
    from pouch.testing.images import busybox_layer_bytes, push_image_to_registry

    layers = [busybox_layer_bytes(), LayerBuilder().file("etc/app", b"1").tobytes(compress=True)]
    push = functools.partial(
        push_image_to_registry, registry.address, "custom/app", layers, ImageConfig(cmd=["app"])
    )
    digest = await anyio.to_thread.run_sync(push)
    image = await engine.images.pull(f"{registry.address}/custom/app@{digest}")
    assert image.config.cmd == ["app"] and len(image.layers) == 2


async def test_blobs_are_mounted_from_another_repository_of_the_registry(
    engine: Engine, busybox: str, registry: Registry
) -> None:
    first, second = f"{registry.address}/team/one:1", f"{registry.address}/team/two:1"
    await engine.images.tag(busybox, first)
    await engine.images.push(first)
    await engine.images.tag(busybox, second)
    lines: list[PullProgress] = []
    await engine.images.push(second, progress=lines.append)
    assert "Mounted from team/one" in [line.status for line in lines]
    mounts = [r for r in registry.requests() if r.method == "POST" and "mount=" in r.uri]
    assert mounts and all(r.status == 201 for r in mounts)
