"""A runtime that holds sandboxes is asked to make and release them around its containers.

The runtime here is the process test runtime with the sandbox calls of
``SandboxRuntime`` recorded around it: what is under test is the order in
which the engine makes them, not a sandbox implementation.
"""

from __future__ import annotations

from typing import Any

import pytest

from pouch import ContainerConfig
from pouch.config import EngineConfig
from pouch.drivers import (
    Capability,
    DriverInfo,
    RuntimeContainer,
    RuntimeState,
    Sandbox,
    SandboxRuntime,
    SandboxState,
)
from pouch.engine import Engine
from pouch.engine._sandboxes import sandbox_runtime
from pouch.markers import hookimpl
from pouch.testing.process_runtime import ProcessRuntime

pytestmark = pytest.mark.anyio


class PodRuntime:
    name = "pod"

    def __init__(self, inner: ProcessRuntime) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def describe(self) -> DriverInfo:
        info = self.inner.describe()
        return DriverInfo(name=self.name, capabilities=[*info.capabilities, Capability.SANDBOXES])

    async def create(self, container: RuntimeContainer) -> RuntimeState:
        self.calls.append(("create", container.sandbox.id))
        return await self.inner.create(container)

    async def create_sandbox(self, sandbox: Sandbox) -> SandboxState:
        self.calls.append(("create_sandbox", sandbox.id))
        return SandboxState(id=sandbox.id, status="created")

    async def start_sandbox(self, sandbox_id: str) -> SandboxState:
        self.calls.append(("start_sandbox", sandbox_id))
        return SandboxState(id=sandbox_id, status="ready")

    async def stop_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("stop_sandbox", sandbox_id))

    async def delete_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("delete_sandbox", sandbox_id))

    async def sandbox_state(self, sandbox_id: str) -> SandboxState:
        return SandboxState(id=sandbox_id, status="ready")

    async def list_sandboxes(self) -> list[SandboxState]:
        return []


class PodPlugin:
    def __init__(self, config: EngineConfig) -> None:
        self.runtime = PodRuntime(ProcessRuntime(config.run_root / "pod"))

    @hookimpl
    def pouch_add_runtimes(self, config: EngineConfig) -> list[Any]:
        return [self.runtime]


async def test_the_sandbox_is_made_before_and_released_after_its_container(
    engine: Engine, busybox: str, pouch_config: EngineConfig
) -> None:
    plugin = PodPlugin(pouch_config)
    engine.register_plugin(plugin, "pod")
    assert isinstance(sandbox_runtime(plugin.runtime), SandboxRuntime)
    container = await engine.create(ContainerConfig(image=busybox, cmd=["true"], runtime="pod"))
    await engine.start(container.id)
    assert await engine.wait(container.id) == 0
    await engine.remove(container.id)
    calls = plugin.runtime.calls
    assert {sandbox for _, sandbox in calls} == {container.sandbox_id}
    order = [name for name, _ in calls]
    first = order.index("create_sandbox")
    assert order[first : first + 3] == ["create_sandbox", "start_sandbox", "create"]
    assert order.index("delete_sandbox") > order.index("create")
    assert order.index("stop_sandbox") < order.index("delete_sandbox")


async def test_runtimes_without_the_capability_never_hear_of_sandboxes(
    engine: Engine, busybox: str
) -> None:
    runtime = engine.kernel.runtimes.get("process")
    assert Capability.SANDBOXES not in runtime.describe().capabilities
    holder = sandbox_runtime(runtime)
    assert not isinstance(holder, type(runtime))
    assert (await holder.start_sandbox("x")).status == "ready"
    container = await engine.create(ContainerConfig(image=busybox, cmd=["true"]))
    await engine.start(container.id)
    assert await engine.wait(container.id) == 0
