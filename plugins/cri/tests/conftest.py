"""Fixtures of the CRI tests: a gRPC client made from the same .proto as the
server, on the test's pouchd (``pouchd_settings`` of each module decide its
runtime and plugins)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import anyio
import grpc
import pytest
from pouch_cri._pb import api_pb2_grpc as rpc

from pouch.testing.daemon import PouchDaemon


@pytest.fixture
def default_bridge() -> Iterator[str]:
    """The default network's bridge (``ptXXXXXX``), removed with its isolation rules."""
    name = "pt" + secrets.token_hex(3)
    yield name
    try:
        from pouch_cni._host import remove_bridge
    except ImportError:  # no CNI plugin, so no bridge was made
        return
    anyio.run(remove_bridge, name)


@pytest.fixture
def channel(pouchd: PouchDaemon) -> Iterator[grpc.Channel]:
    socket = pouchd.run_root / "cri.sock"
    with grpc.insecure_channel(f"unix://{socket}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        yield channel


@pytest.fixture
def runtime(channel: grpc.Channel) -> Any:
    return rpc.RuntimeServiceStub(channel)  # type: ignore[no-untyped-call]


@pytest.fixture
def images(channel: grpc.Channel) -> Any:
    return rpc.ImageServiceStub(channel)  # type: ignore[no-untyped-call]
