"""The pytest plugin of ``pouch.testing``: an engine on temporary directories.

Installed with pouch (entry point ``pytest11: pouch``), so every project that
depends on pouch gets these fixtures without a conftest:

``pouch_runtime``
    the runtime under test, by name; ``"process"`` (the host-process test
    runtime) unless a test class or conftest overrides it.
``pouch_plugins``
    plugin objects registered by hand in every engine, as ``(name, plugin)``
    pairs; the process runtime's plugin when ``pouch_runtime`` is ``"process"``.
``pouch_config``
    an ``EngineConfig`` on fresh directories: state under ``tmp_path``, the run
    root a short directory in /tmp (unix sockets live there and their paths
    are limited to 108 bytes), network ``none``.
``engine_factory``
    ``async with engine_factory() as engine:`` starts an Engine on those
    directories; call it again for a "restarted" engine.
``engine``
    a started Engine; at teardown every container is force-removed, so no
    process, mount or directory outlives the test, even a failed one.
``busybox_rootfs`` / ``busybox``
    the busybox rootfs tarball (built once per session), and the reference
    ``busybox:latest`` after importing it into ``engine``.
``registry``
    Debian's ``docker-registry`` running on 127.0.0.1 (``pouch.testing.registry``).
``faulty_proxy``
    a ``FaultyProxy`` in front of ``registry`` (``pouch.testing.faulty_proxy``):
    pull from its ``address``, and give it rules to drop, fail or stall requests.
``finished_spans``
    an in-memory OpenTelemetry exporter (installed once per process, emptied
    for each test) as a function listing the spans finished so far in the
    test; skips where something else installed the tracer provider.

Tests are ``async`` functions marked ``@pytest.mark.anyio``; ``anyio_backend``
is ``"asyncio"``. The markers ``root`` and ``binary(name, ...)`` skip a test,
with the reason, where the process is not root or a program is not on PATH.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from pouch.testing.images import BUSYBOX_CONFIG, busybox_rootfs_tar

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.engine import Engine
    from pouch.testing.faulty_proxy import FaultyProxy
    from pouch.testing.registry import Registry

__all__ = [
    "EngineFactory",
    "import_busybox",
    "remove_all_containers",
    "runtime_unavailable",
]

BUSYBOX_REF = "busybox:latest"

_MARKERS = (
    "root: needs root (mounts, cgroups, namespaces); skipped otherwise",
    "binary(name, ...): needs these programs on PATH; skipped otherwise",
    "slow: long-running end-to-end test",
    "conformance: part of one of pouch.testing's conformance suites",
)


class _AnyioBackend:
    """Holds the ``anyio_backend`` fixture, registered after every installed plugin.

    Installed plugins' fixtures of one name override each other in registration
    order, and entry points load in no set order: registering this from
    ``pytest_configure`` makes it win over anyio's own (which would also run
    each test under trio where trio is installed), while a conftest's or a test
    class's ``anyio_backend`` still overrides it.
    """

    @pytest.fixture(scope="module")
    @classmethod
    def anyio_backend(cls) -> str:
        return "asyncio"


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    if not config.pluginmanager.has_plugin("pouch-anyio-backend"):
        config.pluginmanager.register(_AnyioBackend(), "pouch-anyio-backend")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        pytest.skip("needs root")
    for marker in item.iter_markers("binary"):
        missing = [name for name in marker.args if shutil.which(name) is None]
        if missing:
            pytest.skip(f"needs {', '.join(missing)} on PATH")


# -- helpers (usable without the fixtures) -----------------------------------------


async def import_busybox(engine: Engine, tarball: Path, reference: str = BUSYBOX_REF) -> str:
    """Import the busybox rootfs tarball into ``engine`` as ``reference``; return it."""
    load = functools.partial(
        engine.images.store.import_rootfs, tarball, reference, config=BUSYBOX_CONFIG
    )
    await anyio.to_thread.run_sync(load)
    return reference


def runtime_unavailable(engine: Engine, runtime: str) -> str | None:
    """Why ``runtime`` cannot be used in ``engine`` (for a skip), or None when it can."""
    if runtime in engine.kernel.runtimes:
        return None
    available = ", ".join(engine.kernel.runtimes.names()) or "none"
    troubled = [p for p in engine.plugins() if p.state in ("skipped", "failed")]
    # A plugin named after the runtime is the likely provider; otherwise show them all.
    named = [p for p in troubled if p.name == runtime] or troubled
    reasons = "; ".join(f"plugin {p.name} {p.state}: {p.reason}" for p in named)
    return f"runtime {runtime!r} is not available (have: {available})" + (
        f"; {reasons}" if reasons else ""
    )


async def remove_all_containers(engine: Engine, *, timeout: float = 60) -> list[str]:
    """Force-remove every container of ``engine``, then anything its runtimes still hold.

    Returns the problems met (empty when everything went), so a fixture can
    report them after cleaning up as much as it could.
    """
    from pouch.errors import NoSuchContainer

    problems: list[str] = []
    with anyio.CancelScope(shield=True):
        for container in engine.list(all=True):
            try:
                with anyio.fail_after(timeout):
                    await engine.remove(container.id, force=True, volumes=True)
            except NoSuchContainer:
                continue
            except Exception as exc:
                problems.append(f"removing container {container.short_id}: {exc!r}")
        try:
            with anyio.fail_after(timeout):
                await engine.settled()  # what --rm removals left to the background
        except Exception as exc:
            problems.append(f"waiting for the releases in flight: {exc!r}")
        for runtime in list(engine.kernel.runtimes):
            try:
                with anyio.fail_after(timeout):
                    for left in await runtime.list():
                        problems.append(f"runtime {runtime.name} still held {left.id[:12]}")
                        await runtime.delete(left.id)
            except Exception as exc:
                problems.append(f"cleaning up runtime {runtime.name}: {exc!r}")
    return problems


class EngineFactory:
    """Starts Engines on one configuration: ``async with factory() as engine``."""

    def __init__(self, config: EngineConfig, plugins: list[tuple[str, object]]) -> None:
        self.config = config
        self.plugins = plugins
        # Whether an engine ran since the last full cleanup.
        self.dirty = False

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Engine]:
        from pouch.engine import Engine

        self.dirty = True
        async with Engine(self.config, plugins=self.plugins) as engine:
            yield engine

    async def cleanup(self) -> list[str]:
        """Start an engine once more and remove every container any engine left."""
        async with self() as engine:
            problems = await remove_all_containers(engine)
            # Networks a test made and left: their bridges would outlive the state.
            with anyio.CancelScope(shield=True):
                await engine.networks.prune()
        self.dirty = False
        return problems


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture
def pouch_runtime() -> str:
    """The runtime under test; override it (a class attribute fixture, a conftest)."""
    return "process"


@pytest.fixture
def pouch_plugins(pouch_runtime: str, pouch_config: EngineConfig) -> list[tuple[str, object]]:
    """Plugin objects every engine registers by hand, besides the installed ones."""
    if pouch_runtime != "process":
        return []
    from pouch.testing.process_runtime import ProcessRuntimePlugin

    return [("process", ProcessRuntimePlugin(pouch_config))]


@pytest.fixture
def pouch_config(tmp_path: Path, pouch_runtime: str) -> Iterator[EngineConfig]:
    from pouch.config import EngineConfig

    run_root = Path(tempfile.mkdtemp(prefix="pouch-", dir="/tmp"))
    try:
        yield EngineConfig(
            root=tmp_path / "root",
            run_root=run_root,
            default_runtime=pouch_runtime,
            default_network="none",
            # Never the host's /etc/pouch/hooks.d: a test writes its hooks here.
            hooks_dirs=[tmp_path / "hooks.d"],
            # The process runtime is registered by hand; other runtimes come
            # from installed plugins.
            discover_plugins=pouch_runtime != "process",
        )
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


@pytest.fixture
async def engine_factory(
    pouch_config: EngineConfig, pouch_plugins: list[tuple[str, object]], anyio_backend: str
) -> AsyncIterator[EngineFactory]:
    """Starts Engines on the test's directories; removes what they leave at the end."""
    factory = EngineFactory(pouch_config, pouch_plugins)
    yield factory
    if factory.dirty:
        problems = await factory.cleanup()
        if problems:
            raise AssertionError("containers left behind: " + "; ".join(problems))


@pytest.fixture
async def engine(
    engine_factory: EngineFactory, pouch_runtime: str, anyio_backend: str
) -> AsyncIterator[Engine]:
    """A started Engine; skips when ``pouch_runtime`` is not available, saying why."""
    problems: list[str] = []
    async with engine_factory() as started:
        reason = runtime_unavailable(started, pouch_runtime)
        if reason is None:
            try:
                yield started
            finally:
                problems = await remove_all_containers(started)
    engine_factory.dirty = False  # nothing left for the factory to clean up
    if reason is not None:
        pytest.skip(reason)
    if problems:
        raise AssertionError("containers left behind: " + "; ".join(problems))


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox rootfs tarball; fails with how to install busybox when it is missing."""
    return busybox_rootfs_tar(tmp_path_factory.mktemp("images"))


@pytest.fixture
async def busybox(engine: Engine, busybox_rootfs: Path, anyio_backend: str) -> str:
    """``busybox:latest`` imported into ``engine``."""
    return await import_busybox(engine, busybox_rootfs)


# -- a real registry (pouch.testing.registry) ----------------------------------------
# Added with the registry client: Debian's docker-registry on 127.0.0.1.


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A running ``docker-registry`` on 127.0.0.1 (plain HTTP, anonymous).

    Skips, saying what to install, where the binary is missing; stopped and its
    directory removed at teardown, even when the test fails.
    """
    from pouch.testing.registry import REGISTRY_BINARY, running_registry

    if not REGISTRY_BINARY.is_file():
        pytest.skip(f"needs {REGISTRY_BINARY} (apt-get install docker-registry)")
    with running_registry() as running:
        yield running


@pytest.fixture
def faulty_proxy(registry: Registry) -> Iterator[FaultyProxy]:
    """A fault-injecting proxy on 127.0.0.1 in front of ``registry``; no rules yet."""
    from pouch.testing.faulty_proxy import FaultyProxy

    with FaultyProxy(registry.address) as proxy:
        yield proxy


pytest_plugins = ["pouch.testing.daemon"]  # pouchd, pouchd_busybox, docker_cli: a real daemon


_exporters: list[Any] = []  # the one in-memory exporter of this process, once installed


@pytest.fixture
def finished_spans() -> Callable[[], list[Any]]:
    """``finished_spans()``: the spans ended since this test began."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if not _exporters:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:
            pytest.skip("something else installed the process's tracer provider")
        _exporters.append(exporter)
    exporter = _exporters[0]
    exporter.clear()
    return lambda: list(exporter.get_finished_spans())
