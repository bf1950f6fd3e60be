"""Pulls through a registry that drops, fails, rate-limits and stalls (``FaultyProxy``).

The real registry (Debian's docker-registry) holds the image; the proxy in
front of it does what each test's rules say, and records what it served.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from pouch.distribution import PullProgress, RegistryUnavailable, RetriesExhausted, RetryPolicy
from pouch.distribution._errors import parse_retry_after
from pouch.distribution._retry import Attempts
from pouch.testing import Fault, FaultyProxy, Rule, drop_after, error, stall, trickle
from pouch.testing.daemon import PouchDaemon, UnixHTTPConnection
from pouch.testing.registry import Registry
from pouch.testing.registry_images import TestImage, push_test_image, single_layer_image

# Short waits, so that failing for good takes seconds: three attempts, a
# stall noticed after 1s without a byte, back-off from 50 ms up to 3s.
QUICK: dict[str, Any] = {
    "stall_timeout": 1,
    "max_download_attempts": 3,
    "retry_delay": 0.05,
    "retry_delay_max": 3,
}
ADVICE = "the registry may be down or overloaded, try again later"


@dataclass
class Flaky:
    """busybox:latest (one layer of about 1 MB) on the registry, pulled through ``proxy``."""

    proxy: FaultyProxy
    image: TestImage

    @property
    def ref(self) -> str:
        return f"{self.proxy.address}/busybox:latest"

    @property
    def layer(self) -> str:
        return max(self.image.blobs, key=lambda digest: len(self.image.blobs[digest]))

    @property
    def size(self) -> int:
        return len(self.image.blobs[self.layer])

    def layer_gets(self) -> list[Any]:
        return [e for e in self.proxy.blob_gets() if e.path.endswith(self.layer)]


@pytest.fixture
def flaky(registry: Registry, faulty_proxy: FaultyProxy) -> Flaky:
    image = single_layer_image()
    push_test_image(registry.address, "busybox", image)
    return Flaky(faulty_proxy, image)


def temp_files(root: Path) -> list[Path]:
    """Blobs being written (the content store's temporary files) anywhere under ``root``."""
    return list(root.rglob(".tmp-*"))


# -- the policy, on a clock of its own ----------------------------------------------


class Clock:
    """Time that passes only when the attempts wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def pause(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def dropped(**kwargs: Any) -> RegistryUnavailable:
    return RegistryUnavailable(
        "cut", host="r:5000", transient=True, cause="connection dropped", **kwargs
    )


def attempts_on(clock: Clock, **policy: Any) -> Attempts:
    return Attempts(
        RetryPolicy(**policy),
        "pulling r:5000/app:1: layer sha256:ab",
        clock.pause,
        lambda: clock.now,
    )


def test_waits_double_up_to_the_ceiling_and_a_retry_after_replaces_them() -> None:
    clock = Clock()
    attempts = attempts_on(clock, attempts=9, delay=1, delay_max=5)
    for _ in range(4):
        attempts.failed(dropped())
    attempts.failed(dropped(retry_after=2.0))
    attempts.failed(dropped(retry_after=3600.0))
    assert clock.waits == [1, 2, 4, 5, 2, 5]


def test_failures_in_a_row_end_the_attempts_with_a_message_naming_what_and_where() -> None:
    clock = Clock()
    attempts = attempts_on(clock, attempts=3, delay=1)
    with pytest.raises(RetriesExhausted) as caught:
        for _ in range(10):
            attempts.failed(dropped())
    assert str(caught.value) == (
        "pulling r:5000/app:1: layer sha256:ab: connection dropped after 3 attempts "
        f"to r:5000; {ADVICE}"
    )
    assert (caught.value.attempts, caught.value.host) == (3, "r:5000")


def test_attempts_that_brought_bytes_do_not_count_but_the_time_bound_holds() -> None:
    clock = Clock()
    attempts = attempts_on(clock, attempts=2, delay=1, delay_max=1, timeout=10)
    with pytest.raises(RetriesExhausted) as caught:
        for _ in range(100):
            attempts.failed(dropped(), progressed=True)
    assert attempts.made == 11
    assert "connection dropped after 11 attempts to r:5000 in 10s" in str(caught.value)


def test_a_failure_another_attempt_cannot_mend_is_raised_at_once() -> None:
    clock = Clock()
    refused = RegistryUnavailable("cannot reach r:5000: refused", host="r:5000")
    with pytest.raises(RegistryUnavailable) as caught:
        attempts_on(clock).failed(refused)
    assert caught.value is refused and clock.waits == []


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert parse_retry_after("120") == 120.0
    now = 1_445_412_400.0  # 2015-10-21 07:26:40 UTC
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 80.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None


# -- through an engine -------------------------------------------------------------


@pytest.mark.anyio
async def test_a_blob_cut_mid_way_is_resumed_from_the_bytes_received(
    flaky: Flaky, make_engine: Callable[..., Any]
) -> None:
    flaky.proxy.add(Rule(fault=drop_after(300_000), path=flaky.layer, times=2))
    async with make_engine(**QUICK) as engine:
        image = await engine.images.pull(flaky.ref)
        assert image.layers == [flaky.layer]
        assert (await engine.images.inspect(flaky.ref)).id == image.id

    first, *resumed = flaky.layer_gets()
    assert (first.range, first.complete) == ("", False)
    assert len(resumed) == 2
    starts = [int(e.range.removeprefix("bytes=").removesuffix("-")) for e in resumed]
    assert 0 < starts[0] < starts[1] < flaky.size, starts
    assert [e.status for e in resumed] == [206, 206]
    assert resumed[-1].complete
    assert flaky.proxy.bytes_sent(flaky.layer) < 2 * flaky.size


@pytest.mark.anyio
async def test_a_connection_reset_mid_blob_is_tried_again(
    flaky: Flaky, make_engine: Callable[..., Any]
) -> None:
    flaky.proxy.add(Rule(fault=drop_after(300_000, reset=True), path=flaky.layer, times=1))
    async with make_engine(**QUICK) as engine:
        assert (await engine.images.pull(flaky.ref)).layers == [flaky.layer]
    gets = flaky.layer_gets()
    assert len(gets) == 2 and gets[-1].complete
    assert flaky.proxy.bytes_sent(flaky.layer) < 2 * flaky.size


@pytest.mark.anyio
async def test_a_registry_that_ignores_the_range_is_read_again_from_the_start(
    flaky: Flaky, make_engine: Callable[..., Any]
) -> None:
    flaky.proxy.ranges = False  # the registry never sees the Range header
    flaky.proxy.add(Rule(fault=drop_after(300_000), path=flaky.layer, times=1))
    async with make_engine(**QUICK) as engine:
        image = await engine.images.pull(flaky.ref)
        assert image.layers == [flaky.layer]
        assert engine.images.store.content.exists(flaky.layer)  # verified by digest
    cut, again = flaky.layer_gets()
    assert cut.sent == 300_000 and not cut.complete
    assert again.range == "bytes=300000-" and again.status == 200 and again.complete
    assert flaky.proxy.bytes_sent(flaky.layer) == 300_000 + flaky.size


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_blob_answered_with_5xx_or_429_is_tried_again(
    flaky: Flaky, make_engine: Callable[..., Any], status: int
) -> None:
    flaky.proxy.add(Rule(fault=error(status), path=flaky.layer, times=2))
    lines: list[PullProgress] = []
    async with make_engine(**QUICK) as engine:
        image = await engine.images.pull(flaky.ref, progress=lines.append)
        assert (await engine.images.inspect(flaky.ref)).id == image.id
    assert [e.status for e in flaky.layer_gets()] == [status, status, 200]
    retrying = [line.status for line in lines if line.id == flaky.layer[7:19]]
    assert "Retrying in 1 second" in retrying


@pytest.mark.anyio
async def test_retry_after_is_honoured_up_to_the_ceiling(
    flaky: Flaky, make_engine: Callable[..., Any]
) -> None:
    config = next(d for d in flaky.image.blobs if d != flaky.layer)
    flaky.proxy.add(
        Rule(fault=error(429, retry_after=2), path="/manifests/", times=1),
        Rule(fault=error(429, retry_after=3600), path=config, times=1),
    )
    lines: list[PullProgress] = []
    async with make_engine(**{**QUICK, "retry_delay": 0.01}) as engine:
        await engine.images.pull(flaky.ref, progress=lines.append)
    seconds = [int(line.status.split()[2]) for line in lines if "Retrying in" in line.status]
    # 2s as the registry asked (not the 10 ms back-off), then the 3s ceiling, not an hour.
    assert seconds[0] == 2 and max(seconds) == 3, seconds


@pytest.mark.anyio
async def test_a_blob_that_stalls_mid_body_is_resumed_after_the_stall_timeout(
    flaky: Flaky, make_engine: Callable[..., Any]
) -> None:
    flaky.proxy.add(Rule(fault=stall(after=100_000), path=flaky.layer, times=1))
    async with make_engine(**QUICK) as engine:
        assert (await engine.images.pull(flaky.ref)).layers == [flaky.layer]
    stalled, resumed = flaky.layer_gets()
    assert stalled.sent == 100_000 and stalled.client_gone  # the engine hung up
    assert resumed.range == "bytes=100000-" and resumed.complete


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (stall(), "stalled (nothing received for 1s)"),
        (stall(after=0), "stalled (nothing received for 1s)"),
        (error(500), "HTTP 500"),
        (drop_after(0), "connection dropped"),
    ],
    ids=["stall", "stall-after-headers", "500", "drop"],
)
async def test_a_blob_that_keeps_failing_fails_the_pull_after_the_attempts(
    flaky: Flaky, make_engine: Callable[..., Any], fault: Fault, cause: str
) -> None:
    flaky.proxy.add(Rule(fault=fault, path=flaky.layer, times=None))
    async with make_engine(**QUICK) as engine:
        with pytest.raises(RetriesExhausted) as caught:
            await engine.images.pull(flaky.ref)
        assert await engine.images.list() == []
        assert temp_files(engine.config.root) == []
    assert str(caught.value) == (
        f"pulling {flaky.ref}: layer {flaky.layer}: {cause} after 3 attempts "
        f"to {flaky.proxy.address}; {ADVICE}"
    )
    assert caught.value.attempts == 3
    assert len(flaky.layer_gets()) == 3


# -- through pouchd: the API stream, the CLI, a client that goes away ---------------


@pytest.fixture
def pouchd_settings(tmp_path: Path) -> dict[str, object]:
    return {"registries": {"auth_file": str(tmp_path / "auth.json"), **QUICK}}


def api_pull(daemon: PouchDaemon, ref: str) -> tuple[int, list[dict[str, Any]]]:
    """``POST /images/create``: the status and the JSON lines (or the error body)."""
    name, _, tag = ref.rpartition(":")
    status, _, body = daemon.request(
        "POST", "/images/create", query={"fromImage": name, "tag": tag}
    )
    return status, [json.loads(line) for line in body.splitlines() if line.strip()]


def test_pouch_pull_and_the_api_say_why_a_failing_registry_failed(
    flaky: Flaky, pouchd: PouchDaemon
) -> None:
    flaky.proxy.add(Rule(fault=error(503), path="/v2/busybox/", times=None))
    expected = (
        f"pulling {flaky.ref}: manifest: HTTP 503 after 3 attempts to {flaky.proxy.address}; "
        f"{ADVICE}"
    )

    status, lines = api_pull(pouchd, flaky.ref)
    assert status == 200  # "Retrying in …" lines went out first
    assert lines[-1] == {"errorDetail": {"message": expected}, "error": expected}
    assert any(line.get("status", "").startswith("Retrying in") for line in lines)

    env = {**os.environ, "POUCH_HOST": pouchd.host}
    done = subprocess.run(
        [sys.executable, "-m", "pouch", "pull", flaky.ref],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert done.stderr == f"Error: {expected}\n"
    manifests = [e for e in flaky.proxy.exchanges() if "/manifests/" in e.path]
    assert [e.status for e in manifests] == [503] * 6  # three attempts per pull
    assert not [line for line in pouchd.log().splitlines() if " ERROR pouch" in line]


def test_a_pull_whose_client_goes_away_stops_downloading_and_leaves_no_temp_files(
    flaky: Flaky, pouchd: PouchDaemon
) -> None:
    # At 40 kB/s the layer would take some 25s: long after the client has gone.
    flaky.proxy.add(Rule(fault=trickle(40_000), path=flaky.layer, times=None))
    name, _, tag = flaky.ref.rpartition(":")
    conn = UnixHTTPConnection(str(pouchd.socket), timeout=60)
    try:
        conn.request("POST", f"/images/create?fromImage={name}&tag={tag}")
        response = conn.getresponse()
        assert response.status == 200
        deadline = time.monotonic() + 60
        while flaky.proxy.bytes_sent(flaky.layer) < 80_000 and time.monotonic() < deadline:
            response.readline()  # progress lines, as a client reads them
        assert flaky.proxy.bytes_sent(flaky.layer) >= 80_000
    finally:
        conn.close()  # the client goes away mid-layer

    assert flaky.proxy.wait_until_ended(flaky.layer, timeout=60)
    (get,) = flaky.layer_gets()  # and no attempt after it
    assert get.client_gone and not get.complete
    assert get.sent < flaky.size / 2
    assert temp_files(pouchd.root) == []
    images = pouchd.json("GET", "/images/json")
    assert not [i for i in images if flaky.ref in (i.get("RepoTags") or [])]
    assert pouchd.answers()


@pytest.mark.anyio
async def test_a_proxy_without_rules_passes_pulls_and_pushes_through(
    flaky: Flaky, make_engine: Callable[..., Any]
) -> None:
    pushed = await anyio.to_thread.run_sync(
        functools.partial(push_test_image, flaky.proxy.address, "copy", flaky.image)
    )
    async with make_engine() as engine:
        image = await engine.images.pull(f"{flaky.proxy.address}/copy@{pushed}")
    assert image.layers == [flaky.layer]
    assert all(e.fault == "" and e.ended for e in flaky.proxy.exchanges())
