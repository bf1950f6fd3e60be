"""A network's removal and the attachments to it never overlap."""

from __future__ import annotations

import anyio
import pytest

from pouch.engine._network_uses import NetworkUses
from pouch.errors import Conflict

pytestmark = pytest.mark.anyio


async def test_a_removal_waits_for_the_attachment_in_flight() -> None:
    uses = NetworkUses()
    order: list[str] = []
    attaching = anyio.Event()
    release = anyio.Event()

    async def attach() -> None:
        async with uses.use("net"):
            attaching.set()
            await release.wait()
            order.append("attached")

    async def remove() -> None:
        async with uses.removing("net"):
            order.append("removed")

    async with anyio.create_task_group() as group:
        group.start_soon(attach)
        await attaching.wait()
        group.start_soon(remove)
        await anyio.wait_all_tasks_blocked()
        assert order == []  # the removal is waiting
        release.set()
    assert order == ["attached", "removed"]


async def test_no_attachment_starts_while_a_removal_runs() -> None:
    uses = NetworkUses()
    async with uses.removing("net"):
        with pytest.raises(Conflict, match="being removed"):
            async with uses.use("net"):
                pass
        async with uses.use("other"):  # other networks are not held up
            pass
    async with uses.use("net"):  # after the removal, as for any network
        pass
