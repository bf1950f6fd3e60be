"""The engine's volume API and how containers stage and publish volumes."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from pouch import Conflict, ContainerConfig, InvalidArgument
from pouch.engine import Engine
from pouch.errors import NoSuchObject
from pouch.events import EventFilter
from pouch.store import Database, VolumeStageTable
from pouch.testing.plugin import EngineFactory

pytestmark = pytest.mark.anyio


def with_volume(source: str, *, cmd: list[str] | None = None, **options: object) -> ContainerConfig:
    mount = {"type": "volume", "source": source, "target": "/data"}
    return msgspec.convert(
        {"image": "busybox", "cmd": cmd or ["true"], "mounts": [mount], **options},
        ContainerConfig,
    )


def stages(engine: Engine) -> list[tuple[str, list[str]]]:
    table = VolumeStageTable(Database(engine.config.db_path))
    return [(r.name, list(r.users)) for r in table.all()]


async def test_volume_api_creates_lists_filters_and_removes(engine: Engine) -> None:
    async with engine.events.subscribe(EventFilter(filters={"type": ["volume"]})) as events:
        data = await engine.volumes.create("data", labels={"tier": "db"})
        other = await engine.volumes.create()
        assert data.driver == "local" and len(other.name) == 64
        assert {v.name for v in await engine.volumes.list()} == {"data", other.name}
        assert [v.name for v in await engine.volumes.list({"label": ["tier=db"]})] == ["data"]
        assert (await engine.volumes.inspect("data")).labels == {"tier": "db"}
        with pytest.raises(InvalidArgument, match="filters"):
            await engine.volumes.list({"colour": ["red"]})
        await engine.volumes.remove("data")
        with pytest.raises(NoSuchObject, match="no such volume: data"):
            await engine.volumes.inspect("data")
        await engine.volumes.remove("data", force=True)  # a missing one is fine with force
        assert await engine.volumes.prune() == [other.name]
        seen = []
        with anyio.fail_after(5):
            async for event in events:
                seen.append((event.action, event.id))
                if len(seen) == 4:
                    break
    assert seen == [
        ("create", "data"),
        ("create", other.name),
        ("destroy", "data"),
        ("destroy", other.name),
    ]


async def test_a_used_volume_is_refused_naming_the_container(engine: Engine, busybox: str) -> None:
    container = await engine.create(with_volume("data"), name="db")
    assert stages(engine) == [("data", [container.id])]
    with pytest.raises(Conflict, match="in use by container db"):
        await engine.volumes.remove("data")
    assert await engine.volumes.prune() == []
    assert [v.name for v in await engine.volumes.list({"dangling": ["false"]})] == ["data"]
    await engine.remove(container.id)
    assert stages(engine) == []  # the last user gone: unpublished and unstaged
    assert [v.name for v in await engine.volumes.list({"dangling": ["true"]})] == ["data"]
    await engine.volumes.remove("data")


async def test_rm_v_takes_anonymous_volumes_and_leaves_named_ones(
    engine: Engine, busybox: str
) -> None:
    named = await engine.create(with_volume("data"))
    await engine.remove(named.id, volumes=True)
    anonymous = msgspec.convert(
        {"image": "busybox", "cmd": ["true"], "mounts": [{"type": "volume", "target": "/x"}]},
        ContainerConfig,
    )
    container = await engine.create(anonymous)
    [(_, name)] = container.volumes
    await engine.remove(container.id, volumes=True)
    assert [v.name for v in await engine.volumes.list()] == ["data"]
    assert name not in {v.name for v in await engine.volumes.list()}
    await engine.volumes.remove("data")


async def test_a_refused_create_releases_the_volume(engine: Engine, busybox: str) -> None:
    with pytest.raises(InvalidArgument, match="user"):
        await engine.create(with_volume("data", user="a:b:c"))
    assert stages(engine) == []
    await engine.volumes.remove("data")  # not held by the refused container


async def test_publications_a_crash_left_are_released_on_start(
    engine_factory: EngineFactory, busybox: str
) -> None:
    async with engine_factory() as engine:
        container = await engine.create(with_volume("data"))
        # The engine dies after publishing but before the container's record
        # is written: the store has the publication, not the container.
        db = Database(engine.config.db_path)
        with db.transaction() as conn:
            conn.execute("DELETE FROM containers WHERE id = ?", (container.id,))
    async with engine_factory() as engine:
        assert stages(engine) == []
        await engine.volumes.remove("data")


async def test_removal_racing_a_create_never_leaves_a_container_without_its_volume(
    engine: Engine, busybox: str
) -> None:
    await engine.volumes.create("data")
    outcomes: list[str] = []

    async def create() -> None:
        await engine.create(with_volume("data"), name="user")
        outcomes.append("created")

    async def remove() -> None:
        try:
            await engine.volumes.remove("data")
            outcomes.append("removed")
        except Conflict:
            outcomes.append("refused")

    async with anyio.create_task_group() as tg:
        tg.start_soon(create)
        tg.start_soon(remove)
    assert "created" in outcomes
    assert (await engine.volumes.inspect("data")).name == "data"
    await engine.remove("user")
    await engine.volumes.remove("data")
