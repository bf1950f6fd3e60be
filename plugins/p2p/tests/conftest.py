"""Fixtures of the p2p tests: pouch engines as nodes on loopback addresses.

``nodes(count)`` starts engines, each with its own state root and the
pouch-p2p plugin serving on its own loopback address (127.0.0.2, .3, …) with
every other node as a static peer; all are stopped at teardown, even when
the test fails.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pouch_p2p.plugin
import pytest

from pouch.config import EngineConfig
from pouch.engine import Engine

TOKEN = "test-token-0123456789abcdef"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def node_settings(
    index: int, addresses: list[str], tracker: bool = False, **extra: Any
) -> dict[str, Any]:
    """Every other node as a static peer; with ``tracker``, none, and node 1 as tracker."""
    if tracker:
        found: dict[str, Any] = {"tracker": addresses[0], "announce": 0.2}
    else:
        found = {"peers": [a for n, a in enumerate(addresses) if n != index]}
    return {"listen": addresses[index], "token": TOKEN, **found, **extra}


@pytest.fixture
async def nodes(anyio_backend: str) -> AsyncIterator[Callable[..., Awaitable[list[Engine]]]]:
    """``await nodes(3)``: three started engines that are each other's peers
    (``nodes(3, tracker=True)``: that find each other through node 1 instead)."""
    stack = AsyncExitStack()
    dirs: list[Path] = []

    async def start(count: int, **extra: Any) -> list[Engine]:
        hosts = [f"127.0.0.{n + 2}" for n in range(count)]
        addresses = [f"{host}:{free_port(host)}" for host in hosts]
        started = []
        for index in range(count):
            root = Path(tempfile.mkdtemp(prefix="p2p-", dir="/tmp"))
            dirs.append(root)
            config = EngineConfig(
                root=root / "root",
                run_root=root / "run",
                default_network="none",
                hooks_dirs=[root / "hooks.d"],
                discover_plugins=False,
                plugin={"p2p": node_settings(index, addresses, **extra)},
            )
            engine = Engine(config, plugins=[("p2p", pouch_p2p.plugin)])
            started.append(await stack.enter_async_context(engine))
        return started

    try:
        yield start
    finally:
        await stack.aclose()
        for root in dirs:
            shutil.rmtree(root, ignore_errors=True)
