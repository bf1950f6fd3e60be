"""Defaults that name no plugin: the default runtime and the default network."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pouch import ContainerConfig
from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.errors import InvalidArgument
from pouch.markers import hookimpl
from pouch.testing.plugin import import_busybox
from pouch.testing.process_runtime import ProcessRuntime, ProcessRuntimePlugin

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(tmp_path: Path) -> Iterator[EngineConfig]:
    run_root = Path(tempfile.mkdtemp(prefix="pouch-", dir="/tmp"))
    try:
        # Embedded defaults, except the directories and no installed plugins.
        yield EngineConfig(root=tmp_path / "root", run_root=run_root, discover_plugins=False)
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


class SecondRuntime:
    """Provides a second process runtime, named "second"."""

    def __init__(self, config: EngineConfig) -> None:
        self.runtime = ProcessRuntime(config.run_root / "second")
        self.runtime.name = "second"

    @hookimpl
    def pouch_add_runtimes(self, config: EngineConfig) -> list[Any]:
        return [self.runtime]


class PrefersProcess:
    @hookimpl
    def pouch_default_runtime(self, config: EngineConfig, available: list[str]) -> str | None:
        return "process" if "process" in available else None


async def test_the_default_runtime_is_a_plugins_choice_else_the_first_loaded(
    config: EngineConfig,
) -> None:
    plugins: list[tuple[str, object]] = [
        ("second", SecondRuntime(config)),
        ("process", ProcessRuntimePlugin(config)),
    ]
    async with Engine(config, plugins=plugins) as engine:
        assert config.default_runtime == ""
        assert engine.default_runtime == "second"  # the first loaded
    async with Engine(config, plugins=[*plugins, ("prefers", PrefersProcess())]) as engine:
        assert engine.default_runtime == "process"
    configured = msgspec.structs.replace(config, default_runtime="second")
    async with Engine(configured, plugins=[*plugins, ("prefers", PrefersProcess())]) as engine:
        assert engine.default_runtime == "second"  # the configuration wins


async def test_without_a_bridge_driver_containers_get_the_none_network(
    config: EngineConfig, busybox_rootfs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert config.default_network == "bridge"
    plugins: list[tuple[str, object]] = [("process", ProcessRuntimePlugin(config))]
    with caplog.at_level(logging.WARNING):
        async with Engine(config, plugins=plugins) as engine:
            image = await import_busybox(engine, busybox_rootfs)
            container = await engine.create(ContainerConfig(image=image, cmd=["true"]))
            await engine.start(container.id)
            assert await engine.wait(container.id) == 0
            assert [a.network for a in engine.inspect(container.id).attachments] in ([], ["none"])
            await engine.remove(container.id)
    assert "no network driver 'bridge' is installed" in caplog.text
    assert "get the network none" in caplog.text


async def test_lxcfs_asked_where_no_plugin_gives_it(
    config: EngineConfig, busybox_rootfs: Path
) -> None:
    async with Engine(config, plugins=[("process", ProcessRuntimePlugin(config))]) as engine:
        await import_busybox(engine, busybox_rootfs)
        asked = msgspec.convert({"image": "busybox", "enable_lxcfs": True}, ContainerConfig)
        with pytest.raises(InvalidArgument) as refused:
            await engine.create(asked)
        assert refused.value.field == "enable_lxcfs" and "pouch-isolation" in str(refused.value)
        assert engine.list(all=True) == []
