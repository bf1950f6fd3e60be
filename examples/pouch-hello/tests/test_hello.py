"""pouch-hello's hooks as a user sees them: in the containers an engine makes.

The fixtures come from ``pouch.testing`` (a pytest plugin installed with pouch):
``engine`` is a started Engine on temporary directories running the ``process``
test runtime, ``busybox`` the reference of an image imported into it.
"""

from __future__ import annotations

import logging

import msgspec
import pytest
from pouch import ContainerConfig
from pouch.engine import Engine
from pouch.oci import Spec
from pouch.testing import EngineFactory

import pouch_hello.plugin

pytestmark = pytest.mark.anyio


@pytest.fixture
def pouch_plugins(pouch_plugins: list[tuple[str, object]]) -> list[tuple[str, object]]:
    # Registered by hand: the test engine does not scan installed plugins, so
    # the result is the same whether or not pouch-hello is installed.
    return [*pouch_plugins, ("hello", pouch_hello.plugin)]


def _spec(engine: Engine, ref: str) -> Spec:
    return msgspec.json.decode(engine.inspect(ref).spec, type=Spec)


async def test_every_container_is_greeted(engine: Engine, busybox: str) -> None:
    container = await engine.create(ContainerConfig(image=busybox, cmd=["true"]), name="web")

    spec = _spec(engine, container.id)
    assert spec.annotations[pouch_hello.plugin.ANNOTATION] == "hello, web"
    assert spec.process is not None
    assert "HELLO_PLUGIN=1" in spec.process.env


async def test_the_process_sees_the_variable(engine: Engine, busybox: str) -> None:
    config = ContainerConfig(image=busybox, cmd=["sh", "-c", 'test "$HELLO_PLUGIN" = 1'])
    container = await engine.create(config)
    await engine.start(container.id)

    assert await engine.wait(container.id) == 0


async def test_a_users_value_is_replaced_not_duplicated(engine: Engine, busybox: str) -> None:
    config = ContainerConfig(image=busybox, cmd=["true"], env=["HELLO_PLUGIN=0"])
    container = await engine.create(config)

    spec = _spec(engine, container.id)
    assert spec.process is not None
    assert [e for e in spec.process.env if e.startswith("HELLO_PLUGIN=")] == ["HELLO_PLUGIN=1"]


async def test_loaded_and_logs_when_the_engine_starts(
    engine_factory: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pouch_hello.plugin"):
        async with engine_factory() as engine:
            status = {p.name: p for p in engine.plugins()}["hello"]

    assert status.state == "loaded"
    assert "engine ready" in caplog.text
