"""A guest that dies under a running container: the container exits 137 and
says why, nothing of the VM is left, and the engine goes on.

The agent is PID 1 of the guest: when it dies the kernel panics ("Attempted
to kill init") and the VM powers off, exactly as when the guest kernel
crashes. A privileged container crashes its own guest here with sysrq, the
one way to end the guest from inside without a hook in the agent; a
container with the default masked paths cannot.

Slow: each case boots a VM (under TCG).
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import msgspec
import pytest
from pouch_kata._assets import Assets

from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.errors import Conflict
from pouch.models import ContainerConfig

from .test_hostile import _left

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.anyio]

LIMIT = 120


@pytest.fixture
def pouch_config(pouch_config: EngineConfig, guest_assets: Assets) -> Iterator[EngineConfig]:
    settings = {"assets": str(guest_assets.directory), "accel": "tcg"}
    yield msgspec.structs.replace(pouch_config, plugin={"kata": settings})


async def _output(engine: Engine, container_id: str) -> str:
    return "".join([record.message.decode() async for record in engine.logs(container_id)])


async def test_a_guest_that_dies_ends_its_container_with_the_reason(
    engine: Engine, busybox: str, pouch_config: EngineConfig
) -> None:
    script = "echo up; sleep 1; echo c > /proc/sysrq-trigger; sleep 60"
    with anyio.fail_after(LIMIT):
        # The default masked paths keep a container from it.
        kept = await engine.create(
            ContainerConfig(
                image=busybox,
                cmd=["sh", "-c", "echo c > /proc/sysrq-trigger; echo survived"],
                runtime="kata",
            )
        )
        await engine.start(kept.id)
        assert await engine.wait(kept.id) == 0
        said = await _output(engine, kept.id)
        assert "Read-only file system" in said and "survived" in said, said
        await engine.remove(kept.id)

        doomed = await engine.create(
            ContainerConfig(
                image=busybox,
                cmd=["sh", "-c", script],
                runtime="kata",
                privileged=True,
            )
        )
        await engine.start(doomed.id)
        assert await engine.wait(doomed.id) == 137
        state = engine.lookup(doomed.id).state
        assert state.exit_code == 137 and "the VM stopped" in state.error, state
        assert "Kernel panic" in state.error, state.error
        assert "up" in await _output(engine, doomed.id)
        with pytest.raises(Conflict):
            await engine.exec_run(doomed.id, ["true"])
        await engine.remove(doomed.id)
    assert not _left(pouch_config.run_root)


async def test_a_dropped_connection_is_not_a_dead_container(
    engine: Engine, busybox: str, pouch_config: EngineConfig
) -> None:
    """The shim serves one connection at a time: when another client takes it,
    the engine's ends, and the container must still run (the engine links again)."""
    from pouch_kata._guest import SHIM_SOCKET, GuestDir, state_root

    with anyio.fail_after(LIMIT):
        container = await engine.create(
            ContainerConfig(image=busybox, cmd=["sleep", "600"], runtime="kata")
        )
        await engine.start(container.id)
        guest = GuestDir.of(state_root(pouch_config.run_root), container.id)
        intruder = await anyio.connect_unix(str(guest.path / SHIM_SOCKET))
        await anyio.sleep(1.0)
        await intruder.aclose()
        await anyio.sleep(0.5)
        assert engine.lookup(container.id).state.status == "running"
        code, out, _ = await engine.exec_run(container.id, ["echo", "still"])
        assert (code, out) == (0, b"still\n")
        await engine.stop(container.id, timeout=1)
        assert engine.lookup(container.id).state.exit_code in (137, 143)
        await engine.remove(container.id)
    assert not _left(pouch_config.run_root)
