"""Conformance tests of a volume driver: its volumes, their staging, containers sharing data.

On the driver object, what ``pouch.drivers.VolumeDriver`` promises: ``create``
returns an existing volume unchanged and refuses bad options with
``InvalidArgument`` naming the field; ``get``/``list`` find a volume and
``remove`` of a missing one is ``NoSuchObject``; ``stage``, ``publish``,
``unpublish`` and ``unstage`` may each be repeated (the engine repeats what a
crash interrupted), and unpublishing what was never published is fine; with
``READ_ONLY`` a read-only publication is a mount with ``ro``. Through the
Engine (kept to a few, the volume API being the engine's own tests'): data one
container writes another reads, after the first is gone; two containers use
a volume at once and only the last one's removal frees it; a create that
fails after the volume was published gives it back; ``rm -v`` removes an
anonymous volume and leaves a named one.

Bound into ``VolumeDriverConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING

import anyio
import pytest

from pouch.drivers import Capability
from pouch.errors import (
    Conflict,
    InvalidArgument,
    NoSuchContainer,
    NoSuchObject,
    NoSuchVolumeDriver,
)
from pouch.models import Mount

if TYPE_CHECKING:
    from pouch.engine import Engine
    from pouch.testing._volume_suite import VolumeDriverConformance

__all__: list[str] = []


async def test_create_is_idempotent_and_get_and_list_find_it(
    self: VolumeDriverConformance, engine: Engine
) -> None:
    driver = self.volume_driver(engine)
    with anyio.fail_after(self.timeout):
        async with self.volume(driver) as info:
            assert info.driver == self.driver
            again = await driver.create(info.name, self.volume_options(), {"pouch.testing": "kit"})
            assert (again.name, again.driver, again.mountpoint) == (
                info.name,
                info.driver,
                info.mountpoint,
            )
            found = await driver.get(info.name)
            assert (found.name, found.labels) == (info.name, {"pouch.testing": "kit"})
            assert info.name in {v.name for v in await driver.list()}
            await driver.remove(info.name)
            with pytest.raises(NoSuchObject):
                await driver.get(info.name)
            assert info.name not in {v.name for v in await driver.list()}


async def test_bad_options_are_refused_naming_the_field(
    self: VolumeDriverConformance, engine: Engine
) -> None:
    driver = self.volume_driver(engine)
    option, value = self.bad_option
    name = "kit-" + secrets.token_hex(4)
    with anyio.fail_after(self.timeout):
        with pytest.raises(InvalidArgument) as refused:
            await driver.create(name, {**self.volume_options(), option: value}, {})
        assert refused.value.field == (self.bad_option_field or option), refused.value
        with pytest.raises(NoSuchObject):
            await driver.get(name)  # nothing was made


async def test_removing_a_missing_volume_is_no_such_object(
    self: VolumeDriverConformance, engine: Engine
) -> None:
    driver = self.volume_driver(engine)
    with anyio.fail_after(self.timeout), pytest.raises(NoSuchObject):
        await driver.remove("kit-missing-" + secrets.token_hex(4))


async def test_stage_publish_unpublish_unstage_repeat_safely(
    self: VolumeDriverConformance, engine: Engine
) -> None:
    driver = self.volume_driver(engine)
    first, second = secrets.token_hex(32), secrets.token_hex(32)
    with anyio.fail_after(self.timeout):
        async with self.volume(driver) as info:
            staged = await driver.stage(info)
            assert (staged.name, staged.driver) == (info.name, self.driver)
            assert await driver.stage(info) == staged
            mount = await driver.publish(staged, first)
            assert mount.type and mount.source, mount
            assert "ro" not in mount.options, mount
            assert await driver.publish(staged, first) == mount
            await driver.publish(staged, second)
            await driver.unpublish(staged, secrets.token_hex(32))  # never published: fine
            for container_id in (first, first, second, second):
                await driver.unpublish(staged, container_id)
            await driver.unstage(staged)
            await driver.unstage(staged)
            await driver.remove(info.name)  # nobody uses it any more


async def test_a_read_only_publication_is_mounted_ro(
    self: VolumeDriverConformance, engine: Engine
) -> None:
    driver = self.volume_driver(engine)
    if not self.declares(engine, Capability.READ_ONLY):
        pytest.skip(f"volume driver {self.driver} does not declare 'read-only'")
    reader, writer = secrets.token_hex(32), secrets.token_hex(32)
    with anyio.fail_after(self.timeout):
        async with self.volume(driver) as info:
            staged = await driver.stage(info)
            try:
                assert "ro" in (await driver.publish(staged, reader, read_only=True)).options
                assert "ro" not in (await driver.publish(staged, writer)).options
            finally:
                for container_id in (reader, writer):
                    await driver.unpublish(staged, container_id)
                await driver.unstage(staged)


async def test_containers_share_a_volumes_data_which_outlives_them(
    self: VolumeDriverConformance, engine: Engine, busybox: str
) -> None:
    driver = self.volume_driver(engine)
    self.require(engine, Capability.NAMESPACES)
    read_only = self.declares(engine, Capability.READ_ONLY)
    with anyio.fail_after(self.timeout):
        async with self.volume(driver) as info:
            script = ["sh", "-c", "echo kit-data > /data/file"]
            writer = await self.run(engine, busybox, script, mounts=[self.mount(info.name)])
            assert await engine.wait(writer.id) == 0, await self.logs(engine, writer.id)
            await engine.remove(writer.id, volumes=True)  # rm -v leaves a named volume
            assert (await driver.get(info.name)).name == info.name

            script = ["sh", "-c", "cat /data/file; touch /data/other 2>/dev/null && echo wrote"]
            # Named without its driver (-v NAME:/data): the volume is found where it is.
            mounts = [Mount(type="volume", source=info.name, target="/data", read_only=read_only)]
            reader = await self.run(engine, busybox, script, mounts=mounts)
            await engine.wait(reader.id)
            expected = ["kit-data"] if read_only else ["kit-data", "wrote"]
            assert await self.output(engine, reader.id) == expected
            await engine.remove(reader.id)


async def test_rm_v_removes_an_anonymous_volume(
    self: VolumeDriverConformance, engine: Engine, busybox: str
) -> None:
    driver = self.volume_driver(engine)
    with anyio.fail_after(self.timeout):
        container = await self.create(engine, busybox, ["true"], mounts=[self.mount()])
        [(driver_name, name)] = engine.inspect(container.id).volumes
        assert driver_name == self.driver
        assert (await driver.get(name)).name == name
        await engine.remove(container.id, volumes=True)
        with pytest.raises(NoSuchObject):
            await driver.get(name)


async def test_a_failed_create_gives_the_volume_back(
    self: VolumeDriverConformance, engine: Engine, busybox: str
) -> None:
    driver = self.volume_driver(engine)
    with anyio.fail_after(self.timeout):
        async with self.volume(driver) as info:
            mounts = [
                self.mount(info.name),
                Mount(type="volume", source="kit-other", target="/other", driver="kit-no-driver"),
            ]
            with pytest.raises(NoSuchVolumeDriver):
                await self.create(engine, busybox, ["true"], mounts=mounts)
            assert info.name not in engine.volumes.in_use()
            assert engine.list(all=True) == []
            await engine.volumes.remove(info.name)  # nobody holds it: it goes
            with pytest.raises(NoSuchObject):
                await driver.get(info.name)


async def test_two_containers_use_a_volume_at_once_and_the_last_one_gives_it_back(
    self: VolumeDriverConformance, engine: Engine, busybox: str
) -> None:
    driver = self.volume_driver(engine)
    self.require(engine, Capability.NAMESPACES, Capability.EXEC)
    with anyio.fail_after(self.timeout):
        async with self.volume(driver) as info:
            mounts = [self.mount(info.name)]
            first = await self.run(engine, busybox, ["sleep", "300"], mounts=mounts)
            second = await self.run(engine, busybox, ["sleep", "300"], mounts=mounts)
            try:
                script = ["sh", "-c", "echo from-first > /data/shared"]
                assert (await engine.exec_run(first.id, script))[0] == 0
                await engine.remove(first.id, force=True)
                with pytest.raises(Conflict):
                    await engine.volumes.remove(info.name)  # the second still uses it
                read = await engine.exec_run(second.id, ["cat", "/data/shared"])
                assert read == (0, b"from-first\n", b""), read
            finally:
                await engine.remove(second.id, force=True)
                with contextlib.suppress(NoSuchContainer):
                    await engine.remove(first.id, force=True)
            assert info.name not in engine.volumes.in_use()
            await engine.volumes.remove(info.name)
