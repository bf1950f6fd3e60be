"""Nodes pulling from each other: the registry serves each blob once; lies and cuts survived."""

from __future__ import annotations

import functools
import logging
import ssl
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx
import pouch_p2p.plugin
import pytest
from pouch_p2p import _service

from pouch.testing.images import LayerBuilder
from pouch.testing.registry import Registry
from pouch.testing.registry_images import TestImage, image_from_layers, push_test_image

pytestmark = pytest.mark.anyio


def three_layers() -> TestImage:
    """Three layers of incompressible bytes, some 1.5 MB each."""
    import os

    layers = [LayerBuilder().file(f"data/{n}", os.urandom(1_500_000)).tobytes() for n in range(3)]
    return image_from_layers(layers)


def blob_gets(registry: Registry) -> list[str]:
    return [
        r.uri.rpartition("/")[2]
        for r in registry.requests()
        if r.method == "GET" and "/blobs/" in r.uri
    ]


async def push(registry: Registry, name: str, image: TestImage) -> str:
    await anyio.to_thread.run_sync(
        functools.partial(push_test_image, registry.address, name, image)
    )
    return f"{registry.address}/{name}"


async def test_the_second_and_third_node_pull_every_blob_from_peers(
    registry: Registry, nodes: Any
) -> None:
    image = three_layers()
    ref = await push(registry, "app", image)
    first, second, third = await nodes(3)

    pulled = await first.images.pull(ref)
    assert sorted(blob_gets(registry)) == sorted(image.blobs)  # no peer had anything
    for node in (second, third):
        assert (await node.images.pull(ref)).id == pulled.id
    assert sorted(blob_gets(registry)) == sorted(image.blobs)  # each blob served once


async def test_a_peer_whose_stored_blob_rotted_refuses_it_and_the_pull_succeeds(
    registry: Registry, nodes: Any, caplog: pytest.LogCaptureFixture
) -> None:
    image = three_layers()
    ref = await push(registry, "app", image)
    rotten, other = await nodes(2)
    await rotten.images.pull(ref)
    layer = next(d for d, data in image.blobs.items() if len(data) > 1_000_000)
    stored = rotten.images.store.content.path(layer)
    data = bytearray(stored.read_bytes())
    data[-1] ^= 1
    stored.chmod(0o644)
    stored.write_bytes(bytes(data))  # the disk under it went bad

    before = len(blob_gets(registry))
    with caplog.at_level(logging.ERROR, logger="pouch_p2p"):
        await other.images.pull(ref)
    said = [r.getMessage() for r in caplog.records if layer in r.getMessage()]
    assert said and "does not match its digest" in said[0]
    assert blob_gets(registry)[before:] == [layer]  # only the rotten blob from the registry


async def test_a_peer_that_dies_mid_blob_is_continued_from_the_same_byte(
    registry: Registry, nodes: Any, caplog: pytest.LogCaptureFixture
) -> None:
    image = three_layers()
    ref = await push(registry, "app", image)
    slow, puller = await nodes(2, rate="500k")  # some 9 s for the three layers
    await slow.images.pull(ref)
    before = len(blob_gets(registry))

    async def kill_soon() -> None:
        await anyio.sleep(1.5)
        server = _service.server_of(slow.config.root)
        assert server is not None
        await anyio.to_thread.run_sync(server.stop)

    with caplog.at_level(logging.WARNING, logger="pouch.distribution"):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(kill_soon)
            pulled = await puller.images.pull(ref)
    assert sorted(pulled.layers) == sorted(d for d in image.blobs if len(image.blobs[d]) > 1e6)
    peer = f"peer {slow.config.plugin['p2p']['listen']}"
    resumed = [r.getMessage() for r in caplog.records if "stopped at byte" in r.getMessage()]
    assert resumed and all(m.startswith(peer) for m in resumed), resumed
    offsets = [int(m.split("stopped at byte ")[1].split()[0]) for m in resumed]
    assert all(offset > 0 for offset in offsets)
    # The registry served the cut layers from where they stopped, and any layer
    # the peer had not begun; each once.
    fetched = blob_gets(registry)[before:]
    assert len(resumed) <= len(fetched) == len(set(fetched)) <= len(image.blobs)


async def test_the_peer_service_refuses_strangers_tags_and_other_addresses(
    registry: Registry, nodes: Any
) -> None:
    image = three_layers()
    ref = await push(registry, "app", image)
    (node,) = await nodes(1)
    pulled = await node.images.pull(ref)
    listen = node.config.plugin["p2p"]["listen"]
    base = f"http://{listen}/v2/app"
    layer = pulled.layers[0]
    auth = {"Authorization": f"Bearer {node.config.plugin['p2p']['token']}"}
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        assert (await client.get(f"{base}/blobs/{layer}")).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert (await client.get(f"{base}/blobs/{layer}", headers=wrong)).status_code == 401
        tag = await client.get(f"{base}/manifests/latest", headers=auth)
        assert tag.status_code == 404 and "never a tag" in tag.text
        by_digest = await client.get(f"{base}/manifests/{pulled.manifest}", headers=auth)
        assert by_digest.status_code == 200
        assert by_digest.headers["Docker-Content-Digest"] == pulled.manifest
        part = await client.get(f"{base}/blobs/{layer}", headers={**auth, "Range": "bytes=100-"})
        assert part.status_code == 206 and part.content == image.blobs[layer][100:]
        put = await client.put(f"{base}/blobs/{layer}", headers=auth, content=b"x")
        assert put.status_code == 405
        port = listen.rpartition(":")[2]
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/v2/", headers=auth)


async def test_a_peer_asked_for_a_blob_it_is_fetching_waits_for_it_rather_than_say_404(
    registry: Registry, nodes: Any
) -> None:
    image = three_layers()
    ref = await push(registry, "app", image)
    (node,) = await nodes(1)
    layer = next(d for d, data in image.blobs.items() if len(data) > 1_000_000)
    pouch_p2p.plugin._upstream[node.config.root].begin(layer)  # as its pull would
    listen = node.config.plugin["p2p"]["listen"]
    auth = {"Authorization": f"Bearer {node.config.plugin['p2p']['token']}"}
    answers: list[httpx.Response] = []

    async def ask() -> None:
        async with httpx.AsyncClient(timeout=20, trust_env=False) as client:
            answers.append(await client.get(f"http://{listen}/v2/app/blobs/{layer}", headers=auth))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ask)
        await anyio.sleep(0.5)  # the request is in, the blob not yet here
        assert not answers
        await node.images.pull(ref)
    assert answers[0].status_code == 200 and answers[0].content == image.blobs[layer]


async def test_a_large_blob_comes_in_pieces_from_every_peer_that_has_it(
    registry: Registry, nodes: Any
) -> None:
    image = three_layers()
    ref = await push(registry, "app", image)
    first, second, third = await nodes(3, piece="256k")
    await first.images.pull(ref)
    await second.images.pull(ref)
    before = len(blob_gets(registry))
    holders = [_service.server_of(node.config.root) for node in (first, second)]
    assert all(holders)
    served_before = [list(h.served) for h in holders if h]

    assert (await third.images.pull(ref)).layers
    assert len(blob_gets(registry)) == before  # nothing from the registry
    layers = {d for d, data in image.blobs.items() if len(data) > 1_000_000}
    for holder, earlier in zip(holders, served_before, strict=True):
        assert holder is not None
        sent = holder.served[len(earlier) :]
        assert layers <= set(sent), "each layer came partly from each holder"


async def test_nodes_without_static_peers_find_the_holders_through_a_tracker_node(
    registry: Registry, nodes: Any
) -> None:
    image = three_layers()
    ref = await push(registry, "app", image)
    tracker, holder, puller = await nodes(3, tracker=True)
    await holder.images.pull(ref)
    assert sorted(blob_gets(registry)) == sorted(image.blobs)
    tracked = _service.server_of(tracker.config.root)
    assert tracked is not None
    own = holder.config.plugin["p2p"]["listen"]
    with anyio.fail_after(10):  # the holder announces every 0.2 s
        while not all(own in tracked.holders.holders(d) for d in image.blobs):
            await anyio.sleep(0.1)

    await puller.images.pull(ref)
    assert sorted(blob_gets(registry)) == sorted(image.blobs)  # all from the holder
    assert not await tracker.images.list()  # the tracker itself holds nothing


async def test_the_tracker_refuses_strangers_and_bad_announcements(nodes: Any) -> None:
    (node,) = await nodes(1)
    base = f"http://{node.config.plugin['p2p']['listen']}/p2p"
    auth = {"Authorization": f"Bearer {node.config.plugin['p2p']['token']}"}
    good = {"address": "127.0.0.9:5050", "digests": ["sha256:" + "a" * 64]}
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        assert (await client.post(f"{base}/announce", json=good)).status_code == 401
        bad = {"address": "127.0.0.9:5050", "digests": ["../../etc/passwd"]}
        refused = await client.post(f"{base}/announce", json=bad, headers=auth)
        assert refused.status_code == 400 and "sha256" in refused.text
        assert (await client.post(f"{base}/announce", json=good, headers=auth)).status_code == 204
        listed = await client.get(f"{base}/holders/sha256:{'a' * 64}", headers=auth)
        assert listed.json() == {"holders": ["127.0.0.9:5050"]}


def certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for the nodes' loopback addresses."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.2,IP:127.0.0.3,IP:127.0.0.4",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.binary("openssl")
async def test_with_mutual_tls_peers_speak_https_and_refuse_other_certificates(
    registry: Registry, nodes: Any, tmp_path: Path
) -> None:
    cert, key = certificate(tmp_path, "cluster")
    tls = {"tls_cert": str(cert), "tls_key": str(key), "tls_ca": str(cert)}
    image = three_layers()
    ref = await push(registry, "app", image)
    first, second = await nodes(2, **tls)
    await first.images.pull(ref)
    await second.images.pull(ref)
    assert sorted(blob_gets(registry)) == sorted(image.blobs)  # the second from the first

    listen = first.config.plugin["p2p"]["listen"]
    url = f"https://{listen}/v2/"
    auth = {"Authorization": f"Bearer {first.config.plugin['p2p']['token']}"}
    member = ssl.create_default_context(cafile=str(cert))
    member.check_hostname = False
    member.load_cert_chain(cert, key)
    async with httpx.AsyncClient(verify=member, trust_env=False) as client:
        assert (await client.get(url, headers=auth)).status_code == 200
    other_cert, other_key = certificate(tmp_path, "stranger")
    stranger = ssl.create_default_context(cafile=str(cert))
    stranger.check_hostname = False
    stranger.load_cert_chain(other_cert, other_key)
    anonymous = ssl.create_default_context(cafile=str(cert))
    anonymous.check_hostname = False
    for context in (stranger, anonymous):
        async with httpx.AsyncClient(verify=context, trust_env=False) as client:
            # TLS 1.3 reports the refused certificate at the first read, unwrapped.
            with pytest.raises((httpx.TransportError, ssl.SSLError)):
                await client.get(url, headers=auth)
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(f"http://{listen}/v2/", headers=auth)
