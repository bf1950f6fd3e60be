"""What every conformance test shares: the runtime's fixtures, commands and waits.

``SuiteBase`` overrides ``pouch_runtime`` with the class's ``runtime``
attribute, so a plugin's test class needs one line. Its helpers turn "the
runtime is not there" and "the runtime lacks a capability" into skips that say
why; they never reach past the Engine API except to ask the runtime for
``describe()`` and ``list()``.

A suite is one class with ``SuiteBase`` as its only base: its tests are plain
functions written in the ``_*_tests`` modules (``self`` first) and bound into
the class by ``with_tests``, so suites are composed of test modules rather
than chained out of mixin classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import anyio
import pytest

from pouch.errors import NoSuchRuntime
from pouch.models import Container, ContainerConfig
from pouch.testing.plugin import runtime_unavailable

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__ = [
    "LONG",
    "STUBBORN",
    "SuiteBase",
    "counter",
    "driver_unavailable",
    "until",
    "well_behaved",
    "with_tests",
]

S = TypeVar("S", bound=type)


def with_tests(*modules: ModuleType) -> Callable[[S], S]:
    """Bind every ``test_*`` function of ``modules`` into the decorated suite class.

    The functions take ``self`` first and become the class's test methods; a
    name bound twice is an error rather than a test silently replaced.
    """

    def bind(suite: S) -> S:
        for module in modules:
            for name, function in vars(module).items():
                if not (name.startswith("test_") and callable(function)):
                    continue
                if name in vars(suite):
                    raise TypeError(f"{suite.__name__}.{name} is bound twice ({module.__name__})")
                setattr(suite, name, function)
        return suite

    return bind


def driver_unavailable(engine: Engine, kind: str, name: str) -> str | None:
    """Why the ``kind`` (``network``/``volume``) driver ``name`` is missing, or None."""
    registry = engine.kernel.networks if kind == "network" else engine.kernel.volumes
    if name in registry:
        return None
    available = ", ".join(registry.names()) or "none"
    troubled = [p for p in engine.plugins() if p.state in ("skipped", "failed")]
    reasons = "; ".join(f"plugin {p.name} {p.state}: {p.reason}" for p in troubled)
    return f"{kind} driver {name!r} is not available (have: {available})" + (
        f"; {reasons}" if reasons else ""
    )


def well_behaved(body: str) -> list[str]:
    """A shell running ``body`` that exits 0 on SIGTERM.

    The trap matters for runtimes with a PID namespace: there the command is
    the namespace's init, which the kernel shields from every signal it has no
    handler for, so a bare ``sleep`` would ignore ``stop``.
    """
    return ["sh", "-c", f"trap 'exit 0' TERM; {body}"]


# Runs until stopped; a short sleep per turn lets the trap run promptly.
LONG = well_behaved("while :; do sleep 0.1; done")
# Ignores SIGTERM: only the SIGKILL after the stop timeout ends it.
STUBBORN = ["sh", "-c", "trap '' TERM; sleep 100"]


def counter(interval: float = 0.05) -> list[str]:
    """Prints 1, 2, 3 … one line every ``interval`` seconds, until stopped."""
    return well_behaved(f"i=0; while :; do i=$((i+1)); echo $i; sleep {interval}; done")


async def until(
    predicate: Callable[[], bool], what: str, *, timeout: float = 20.0, interval: float = 0.05
) -> None:
    """Poll ``predicate`` until it holds; fail saying ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(interval)


class SuiteBase:
    """Fixtures and helpers for the conformance tests of one runtime."""

    runtime: ClassVar[str] = "process"
    # Upper bound of each test, in seconds (raise it for slow runtimes: VMs).
    timeout: ClassVar[float] = 60.0

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [
        pytest.mark.anyio,
        pytest.mark.conformance,
    ]

    @pytest.fixture(scope="module")
    @classmethod
    def anyio_backend(cls) -> str:
        return "asyncio"

    @pytest.fixture
    def pouch_runtime(self) -> str:
        return self.runtime

    # -- runtime checks ---------------------------------------------------------------

    def check_available(self, engine: Engine) -> None:
        reason = runtime_unavailable(engine, self.runtime)
        if reason is not None:
            pytest.skip(reason)

    def capabilities(self, engine: Engine) -> set[str]:
        self.check_available(engine)
        return set(engine.kernel.runtimes.get(self.runtime).describe().capabilities)

    def require(self, engine: Engine, *names: str) -> None:
        have = self.capabilities(engine)
        for name in names:
            if name not in have:
                pytest.skip(f"runtime {self.runtime} lacks capability '{name}'")

    async def held_by_runtime(self, engine: Engine) -> set[str]:
        """IDs of the containers the runtime itself still holds."""
        return {s.id for s in await engine.kernel.runtimes.get(self.runtime).list()}

    # -- containers ----------------------------------------------------------------

    async def create(
        self, engine: Engine, image: str, cmd: list[str], *, name: str | None = None, **options: Any
    ) -> Container:
        """Create a container of the runtime under test; ``options`` are ContainerConfig's."""
        config = ContainerConfig(image=image, cmd=cmd, runtime=self.runtime, **options)
        try:
            return await engine.create(config, name=name)
        except NoSuchRuntime:
            self.check_available(engine)
            raise

    async def run(
        self, engine: Engine, image: str, cmd: list[str], *, name: str | None = None, **options: Any
    ) -> Container:
        """Create and start; return the record as inspect shows it right after."""
        container = await self.create(engine, image, cmd, name=name, **options)
        await engine.start(container.id)
        return engine.inspect(container.id)

    async def logs(self, engine: Engine, ref: str, **options: Any) -> list[tuple[str, str]]:
        """(stream, text) of each log record."""
        return [
            (record.stream, record.message.decode()) async for record in engine.logs(ref, **options)
        ]

    async def output(self, engine: Engine, ref: str, stream: str = "stdout") -> list[str]:
        return [text for name, text in await self.logs(engine, ref) if name == stream]
