"""Fuzzing the API from its own OpenAPI document: no 500, no hang.

schemathesis generates valid and invalid requests for every operation of
``pouch/daemon/openapi.yaml`` and sends them to the daemon's app, served here
on 127.0.0.1 (a free port, this test only: pouchd itself never listens on
plain TCP). The daemon has no image, so no generated request can start a
process. Operations that stream without end, take the connection over, or
reach out to registries are left out; their parameters are fuzzed through
the explicit tests instead. Every request is bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.abc
import anyio.from_thread
import pytest

schemathesis = pytest.importorskip("schemathesis", reason="needs schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

import pouch.daemon  # noqa: E402
from pouch.config import EngineConfig  # noqa: E402

OPENAPI = Path(pouch.daemon.__file__).parent / "openapi.yaml"
# Streams without end (events, stats), hijacks (attach, exec start), network
# access (pull, push, login, search, distribution) and uploads (import, load,
# build: tests/core/daemon/test_build_api.py sends those) are not fuzzed.
LEFT_OUT = [
    "SystemEvents",
    "SystemAuth",
    "ContainerAttach",
    "ContainerStats",
    "ContainerLogs",
    "ContainerWait",
    "ExecStart",
    "ImageCreate",
    "ImagePush",
    "ImageLoad",
    "ImageBuild",
    "ImageGet",
    "ImageGetAll",
    "ImageSearch",
    "DistributionInspect",
]
# pouchd runs no swarm: these answer 503 by design.
SWARM = r"^/(swarm|nodes|services|tasks|secrets|configs)(/|$)"

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(
    modes=list(schemathesis.GenerationMode), max_examples=15, deterministic=True
)
schema = schema.exclude(operation_id=LEFT_OUT).exclude(path_regex=SWARM)


@contextlib.asynccontextmanager
async def _serve(config: EngineConfig) -> AsyncIterator[str]:
    from pouch.daemon import Daemon, Server, build_app
    from pouch.engine import Engine
    from pouch.testing.process_runtime import ProcessRuntimePlugin

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    plugins = [("process", ProcessRuntimePlugin(config))]
    async with (
        Engine(config, plugins=plugins) as engine,
        Daemon(engine) as daemon,
        Server(build_app(daemon), [listener]),
    ):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def fuzz_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    run_root = Path(tempfile.mkdtemp(prefix="pouch-fuzz-", dir="/tmp"))
    config = EngineConfig(
        root=tmp_path_factory.mktemp("fuzz"),
        run_root=run_root,
        default_runtime="process",
        default_network="none",
        discover_plugins=False,
    )
    try:
        with (
            anyio.from_thread.start_blocking_portal() as portal,
            portal.wrap_async_context_manager(_serve(config)) as url,
        ):
            yield url
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case: schemathesis.Case, fuzz_url: str) -> None:
    response = case.call(base_url=fuzz_url, timeout=15)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} {case.query} {case.body!r} -> "
        f"{response.status_code} {response.text[:500]}"
    )
    if response.status_code >= 400 and response.status_code != 405 and case.method != "HEAD":
        assert "message" in response.json()  # a HEAD answer has no body to carry one
