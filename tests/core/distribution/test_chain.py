"""Blobs chosen per blob: peers, then mirrors, then the registry; resumed; bad bytes blamed."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
import pytest

from pouch.config import EngineConfig
from pouch.distribution import (
    DigestMismatch,
    Distribution,
    PullProgress,
    RegistryUnavailable,
    Source,
)
from pouch.engine import Engine
from pouch.errors import NoSuchObject
from pouch.markers import hookimpl
from pouch.testing.images import LayerBuilder
from pouch.testing.registry import Registry, running_registry
from pouch.testing.registry_images import (
    TestImage,
    image_from_layers,
    push_test_image,
    single_layer_image,
)

pytestmark = pytest.mark.anyio


class Peer:
    """A peer holding some blobs; ``cut_at`` stops a transfer there, ``bad`` flips a byte."""

    def __init__(self, name: str, blobs: dict[str, bytes]) -> None:
        self.name = name
        self.blobs = blobs
        self.cut_at: int | None = None
        self.bad = False
        self.asked: list[tuple[str, int]] = []

    def open(self, repo: str, digest: str, offset: int) -> Iterator[bytes]:
        self.asked.append((digest, offset))
        if digest not in self.blobs:
            raise NoSuchObject(f"{self.name} lacks {digest}")
        return self._chunks(self.blobs[digest], offset)

    def _chunks(self, data: bytes, offset: int) -> Iterator[bytes]:
        if self.bad:
            data = data[:-1] + bytes([data[-1] ^ 1])
        end = len(data) if self.cut_at is None else self.cut_at
        for start in range(offset, end, 4096):
            yield data[start : min(start + 4096, end)]
        if end < len(data):
            raise RegistryUnavailable(f"{self.name} went away")


def layer_of(image: TestImage) -> str:
    return str(next(d for d, data in image.blobs.items() if len(data) > 100_000))


@dataclass
class App:
    """A one-layer image "app" on a fake registry (and on a fake mirror of it)."""

    origin: Any
    mirror: Any
    image: TestImage
    layer: str

    @property
    def ref(self) -> str:
        return f"{self.origin.address}/app"


@pytest.fixture
def app(fake_factory: Callable[..., Any]) -> App:
    image = single_layer_image()
    origin, mirror = fake_factory(), fake_factory()
    origin.add("app", image)
    mirror.add("app", image)
    return App(origin, mirror, image, layer_of(image))


def blob_gets(fake: Any) -> list[tuple[str, str]]:
    """(digest, Range header) of each blob GET the fake registry answered."""
    return [
        (p.rpartition("/")[2], h.get("Range", ""))
        for m, p, h in fake.requests
        if m == "GET" and "/blobs/" in p
    ]


def distribution(engine: Engine, **kwargs: Any) -> Distribution:
    return Distribution(engine.images.store, engine.config.registries, **kwargs)


async def pull(dist: Distribution, ref: str) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(dist.pull, ref))


async def test_a_mirror_that_lacks_a_blob_falls_through_to_the_registry_for_that_blob(
    engine: Engine, app: App
) -> None:
    origin, mirror, layer = app.origin, app.mirror, app.layer
    del mirror.blobs[layer]
    dist = distribution(engine, mirrors={origin.address: [mirror.address]})

    assert (await pull(dist, f"{origin.address}/app")).layers == [layer]
    assert [d for d, _ in blob_gets(origin)] == [layer]  # only what the mirror lacked
    assert not [p for p in origin.paths() if "/manifests/" in p]


async def test_a_source_that_stops_half_way_is_continued_from_the_same_byte(
    engine: Engine, app: App
) -> None:
    origin, mirror, image, layer = app.origin, app.mirror, app.image, app.layer
    mirror.truncated.add(layer)
    dist = distribution(engine, mirrors={origin.address: [mirror.address]})

    assert (await pull(dist, f"{origin.address}/app")).layers == [layer]
    ((digest, asked),) = blob_gets(origin)
    start = int(asked.removeprefix("bytes=").rstrip("-"))
    assert digest == layer and 0 < start <= len(image.blobs[layer]) // 2


async def test_a_registry_that_ignores_ranges_is_still_resumed_correctly(
    engine: Engine, app: App
) -> None:
    origin, image, layer = app.origin, app.image, app.layer
    origin.ranges = False  # answers 200 with the whole blob
    peer = Peer("peer 10.0.0.2", dict(image.blobs))
    peer.cut_at = 50_000
    dist = distribution(engine, peers=lambda registry, repo: [peer])

    assert (await pull(dist, f"{origin.address}/app")).layers == [layer]
    assert [(d, r) for d, r in blob_gets(origin)] == [(layer, "bytes=50000-")]


async def test_peers_are_asked_first_and_the_registry_serves_only_what_they_lack(
    engine: Engine, app: App
) -> None:
    origin, image, layer = app.origin, app.image, app.layer
    empty = Peer("peer 10.0.0.3", {})
    full = Peer("peer 10.0.0.2", {layer: image.blobs[layer]})
    seen: list[tuple[str, str]] = []

    def peers(registry: str, repo: str) -> Sequence[Source]:
        seen.append((registry, repo))
        return [empty, full]

    dist = distribution(engine, peers=peers)
    assert (await pull(dist, f"{origin.address}/app")).layers == [layer]
    assert seen == [(origin.address, "app")]
    assert (layer, 0) in empty.asked and (layer, 0) in full.asked
    assert layer not in [d for d, _ in blob_gets(origin)]  # the config still came from it
    assert len(blob_gets(origin)) == 1


async def test_a_peer_serving_bad_bytes_is_named_and_the_next_source_serves_the_blob(
    engine: Engine, app: App, caplog: pytest.LogCaptureFixture
) -> None:
    origin, image, layer = app.origin, app.image, app.layer
    liar = Peer("peer 10.0.0.9", dict(image.blobs))
    liar.bad = True
    dist = distribution(engine, peers=lambda registry, repo: [liar])

    with caplog.at_level(logging.WARNING, logger="pouch.distribution"):
        assert (await pull(dist, f"{origin.address}/app")).layers == [layer]
    blamed = [r.getMessage() for r in caplog.records if "failed verification" in r.getMessage()]
    assert blamed and all("peer 10.0.0.9" in m for m in blamed)
    # Marked bad for the rest of the pull: asked once for the config, not again for the layer.
    assert [d for d, _ in liar.asked].count(layer) <= 1
    assert sorted(d for d, _ in blob_gets(origin)) == sorted(image.blobs)


async def test_bad_bytes_from_the_registry_itself_fail_the_pull_and_store_nothing(
    engine: Engine, app: App
) -> None:
    origin, image, layer = app.origin, app.image, app.layer
    good = image.blobs[layer]
    origin.tampered[layer] = good[:-1] + bytes([good[-1] ^ 1])
    liar = Peer("peer 10.0.0.9", {layer: origin.tampered[layer]})
    dist = distribution(engine, peers=lambda registry, repo: [liar])

    with pytest.raises(DigestMismatch) as caught:
        await pull(dist, f"{origin.address}/app")
    assert f"registry {origin.address}" in str(caught.value)
    assert "was not stored" in str(caught.value)
    assert not engine.images.store.content.exists(layer)


async def test_a_peer_that_disappears_mid_blob_hands_over_to_the_next_peer(
    engine: Engine, app: App
) -> None:
    origin, image, layer = app.origin, app.image, app.layer
    first = Peer("peer 10.0.0.2", dict(image.blobs))
    first.cut_at = 70_000
    second = Peer("peer 10.0.0.3", dict(image.blobs))
    dist = distribution(engine, peers=lambda registry, repo: [first, second])

    assert (await pull(dist, f"{origin.address}/app")).layers == [layer]
    assert (layer, 70_000) in second.asked
    assert blob_gets(origin) == []


class PeerPlugin:
    """A plugin answering ``pouch_blob_peers`` with one peer."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.asked: list[tuple[str, str]] = []

    @hookimpl
    def pouch_blob_peers(self, registry: str, repository: str) -> list[Source]:
        self.asked.append((registry, repository))
        return [self.peer]


async def test_an_engine_asks_the_peers_its_plugins_name(
    pouch_config: EngineConfig, app: App
) -> None:
    origin, image, layer = app.origin, app.image, app.layer
    plugin = PeerPlugin(Peer("peer 10.0.0.2", {layer: image.blobs[layer]}))
    async with Engine(pouch_config, plugins=[("peers", plugin)]) as engine:
        assert (await engine.images.pull(f"{origin.address}/app")).layers == [layer]
    assert plugin.asked == [(origin.address, "app")]
    assert (layer, 0) in plugin.peer.asked
    assert layer not in [d for d, _ in blob_gets(origin)]


async def test_a_pull_through_proxy_as_mirror_serves_the_pull_and_when_down_is_skipped_once(
    registry: Registry, make_engine: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    image = single_layer_image()
    push = functools.partial(push_test_image, registry.address, "team/app", image)
    await anyio.to_thread.run_sync(push)
    ref = f"{registry.address}/team/app"
    with running_registry(proxy=f"http://{registry.address}") as proxy:
        mirrors = {registry.address: [f"http://{proxy.address}"]}
        async with make_engine(registry_mirrors=mirrors) as engine:
            assert (await engine.images.pull(ref)).layers == [layer_of(image)]
        through = [r.uri for r in proxy.requests() if r.method == "GET" and "/blobs/" in r.uri]
        assert sorted(u.rpartition("/")[2] for u in through) == sorted(image.blobs)
        proxy_address = proxy.address
    # The proxy is gone: the pull goes to the registry and says so once.
    mirrors = {registry.address: [f"http://{proxy_address}"]}
    before = len([r for r in registry.requests() if "/blobs/" in r.uri])
    with caplog.at_level(logging.INFO, logger="pouch.distribution"):
        async with make_engine(registry_mirrors=mirrors) as engine:
            assert (await engine.images.pull(ref)).layers == [layer_of(image)]
    said = [r.getMessage() for r in caplog.records if proxy_address in r.getMessage()]
    assert len(said) == 1 and "skipped" in said[0], said
    assert len([r for r in registry.requests() if "/blobs/" in r.uri]) > before


async def test_progress_and_the_pull_span_name_the_source_of_each_layer(
    engine: Engine, app: App, finished_spans: Callable[[], list[Any]]
) -> None:
    peer = Peer("peer 10.0.0.2", {app.layer: app.image.blobs[app.layer]})
    dist = distribution(engine, peers=lambda registry, repo: [peer])
    lines: list[PullProgress] = []
    pull = functools.partial(dist.pull, app.ref, progress=lines.append)
    await anyio.to_thread.run_sync(pull)
    done = [line for line in lines if line.status == "Download complete"]
    assert [line.source for line in done] == ["peer 10.0.0.2"]
    assert done[0].to_docker()["source"] == "peer 10.0.0.2"

    spans = finished_spans  # installed from here on
    other = image_from_layers([LayerBuilder().file("other", b"other\n").tobytes()])
    app.mirror.add("other", other)
    await engine.images.pull(f"{app.mirror.address}/other")
    (span,) = [s for s in spans() if s.name.endswith("image.pull")]
    assert span.attributes is not None
    sources = list(span.attributes["pouch.image.layer_sources"])  # type: ignore[arg-type]
    layer = msgspec.json.decode(other.manifest)["layers"][0]["digest"]
    assert sources == [f"{layer[7:19]}: registry {app.mirror.address}"]
