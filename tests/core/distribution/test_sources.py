"""Where blobs come from and what is refused: tampering, cut downloads, redirects, mirrors."""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from pouch.distribution import DigestMismatch, Distribution, RegistryUnavailable, _registries
from pouch.engine import Engine
from pouch.testing.registry import Registry
from pouch.testing.registry_images import push_test_image, single_layer_image

pytestmark = pytest.mark.anyio


def dead_address() -> str:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def leftovers(engine: Engine) -> list[str]:
    """Blobs and temporary files in the content store."""
    return sorted(p.name for p in Path(engine.images.store.content.root).iterdir())


async def test_a_tampered_blob_is_rejected_and_nothing_is_stored(
    engine: Engine, fake_registry: Any
) -> None:
    image = single_layer_image()
    fake_registry.add("bad", image)
    layer = next(d for d, data in image.blobs.items() if len(data) > 100_000)
    good = image.blobs[layer]
    fake_registry.tampered[layer] = good[:-1] + bytes([good[-1] ^ 1])
    ref = f"{fake_registry.address}/bad"

    with pytest.raises(DigestMismatch) as caught:
        await engine.images.pull(ref)
    assert layer in str(caught.value) and "was not stored" in str(caught.value)
    assert not engine.images.store.content.exists(layer)
    assert not [name for name in leftovers(engine) if name.startswith(".tmp")]
    assert await engine.images.list() == []

    del fake_registry.tampered[layer]
    assert (await engine.images.pull(ref)).layers == [layer]


async def test_an_interrupted_download_leaves_nothing_and_the_next_pull_completes(
    make_engine: Callable[..., Any], fake_registry: Any
) -> None:
    image = single_layer_image()
    fake_registry.add("cut", image)
    layer = next(d for d, data in image.blobs.items() if len(data) > 100_000)
    fake_registry.truncated.add(layer)  # every attempt stops at the same byte
    ref = f"{fake_registry.address}/cut"

    async with make_engine(max_download_attempts=2, retry_delay=0) as engine:
        with pytest.raises(RegistryUnavailable) as caught:
            await engine.images.pull(ref)
        message = str(caught.value)
        assert f"layer {layer}: connection dropped after 2 attempts" in message
        assert fake_registry.address in message
        assert not engine.images.store.content.exists(layer)
        assert not [name for name in leftovers(engine) if name.startswith(".tmp")]

        fake_registry.truncated.clear()
        assert (await engine.images.pull(ref)).layers == [layer]


async def test_blob_redirects_are_followed_without_the_registry_token(
    engine: Engine, fake_factory: Callable[..., Any]
) -> None:
    fake = fake_factory(users={})  # anonymous bearer tokens
    fake.redirect = True
    fake.add("moved", single_layer_image())
    await engine.images.pull(f"{fake.address}/moved")
    api = [h for m, p, h in fake.requests if "/blobs/" in p]
    storage = [h for m, p, h in fake.requests if p.startswith("/storage/")]
    assert len(api) == len(storage) == 2
    assert all(h["Authorization"].startswith("Bearer ") for h in api)
    assert not [h for h in storage if "Authorization" in h]


async def test_docker_io_mirrors_are_tried_in_order(
    registry: Registry, make_engine: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test must never reach the real Docker Hub, whatever happens.
    monkeypatch.setattr(_registries, "DOCKER_HUB_HOST", dead_address())
    push = functools.partial(push_test_image, registry.address, "library/busybox")
    await anyio.to_thread.run_sync(push, single_layer_image())
    mirrors = [dead_address(), f"http://{registry.address}"]
    async with make_engine(mirrors=mirrors) as engine:
        image = await engine.images.pull("busybox")
    assert image.names == ["docker.io/library/busybox:latest"]
    asked = [r.uri for r in registry.requests() if r.method == "GET" and "/manifests/" in r.uri]
    assert asked == ["/v2/library/busybox/manifests/latest"]


async def test_down_and_failing_mirrors_fall_back_to_the_origin(
    engine: Engine, fake_factory: Callable[..., Any]
) -> None:
    origin, failing, empty = fake_factory(), fake_factory(), fake_factory()
    failing.fail_with = 503
    origin.add("app", single_layer_image())
    distribution = Distribution(
        engine.images.store,
        engine.config.registries,
        mirrors={origin.address: [dead_address(), failing.address, empty.address]},
    )
    pull = functools.partial(distribution.pull, f"{origin.address}/app")
    image = await anyio.to_thread.run_sync(pull)
    assert image.names == [f"{origin.address}/app:latest"]
    assert "/v2/app/manifests/latest" in failing.paths()
    assert "/v2/app/manifests/latest" in empty.paths()
    assert len([p for p in origin.paths() if "/blobs/" in p]) == 2

    origin.fail_with = 500
    with pytest.raises(RegistryUnavailable) as caught:
        await anyio.to_thread.run_sync(pull)
    assert origin.address in str(caught.value) and "try again later" in str(caught.value)
