"""Fixtures for the CLI's end-to-end tests: a real pouchd, and ``pouch`` run as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from pouch.testing.daemon import PouchDaemon, preferred_runtime

__all__ = ["Pouch", "Result", "cli"]


@pytest.fixture
def pouch_runtime() -> str:
    """Real runc containers where the host runs them (root, runc, conmon)."""
    return preferred_runtime()[0]


@dataclass
class Result:
    status: int
    out: str
    err: str


class Pouch:
    """``cli(...)`` runs ``python -m pouch`` against one daemon in a subprocess."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.env = {**os.environ, "POUCH_HOST": host}

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "pouch", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, input: str | None = None) -> str:
        """The output of a command that must succeed."""
        result = self(*args, input=input)
        assert result.status == 0, f"pouch {' '.join(args)} -> {result}"
        return result.out

    @staticmethod
    def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
        """Poll ``check`` until it holds or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.1)
        return check()


@pytest.fixture
def cli(pouchd: PouchDaemon, pouchd_busybox: str) -> Pouch:
    """``pouch`` against a fresh pouchd that has ``busybox:latest``."""
    return Pouch(pouchd.host)


@pytest.fixture
def runtime_capabilities(
    pouch_runtime: str, pouch_config: object, pouch_plugins: list[tuple[str, object]]
) -> set[str]:
    """What the runtime under test can do ("tty", "attach", ...), from its describe()."""
    import anyio

    from pouch.config import EngineConfig
    from pouch.testing.plugin import EngineFactory

    assert isinstance(pouch_config, EngineConfig)

    async def probe() -> set[str]:
        async with EngineFactory(pouch_config, pouch_plugins)() as engine:
            if pouch_runtime not in engine.kernel.runtimes:
                return set()
            return set(engine.kernel.runtimes.get(pouch_runtime).describe().capabilities)

    return anyio.run(probe)
