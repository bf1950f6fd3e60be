"""Engine behaviour beyond the runtime contract: names, input, volumes, attach."""

from __future__ import annotations

import functools
from pathlib import Path

import anyio
import msgspec
import pytest

from pouch import Conflict, ContainerConfig, InvalidArgument, NoSuchContainer, NoSuchImage
from pouch.engine import Engine
from pouch.engine._networks import NoSuchNetwork
from pouch.errors import NoSuchNetworkDriver, NoSuchRuntime
from pouch.models import Mount
from pouch.oci.image import ImageConfig

pytestmark = pytest.mark.anyio


def cfg(**options: object) -> ContainerConfig:
    options.setdefault("image", "busybox")
    return msgspec.convert(options, ContainerConfig)


async def test_names_and_id_prefixes_resolve_like_docker(engine: Engine, busybox: str) -> None:
    one = await engine.create(cfg(cmd=["true"]), name="web")
    two = await engine.create(cfg(cmd=["true"]))
    assert engine.lookup("web").id == one.id
    assert engine.lookup("/web").id == one.id
    assert engine.lookup(one.id[:8]).id == one.id
    assert two.name and two.name != "web"
    with pytest.raises(Conflict, match='"/web" is already in use by container'):
        await engine.create(cfg(cmd=["true"]), name="web")
    with pytest.raises(InvalidArgument, match="name"):
        await engine.create(cfg(cmd=["true"]), name="-bad name")
    with pytest.raises(NoSuchContainer):
        engine.lookup("nothing-like-this")
    renamed = await engine.rename("web", "api")
    assert engine.lookup("api").id == renamed.id == one.id


async def test_create_rejects_unknown_parts_and_leaves_nothing(
    engine: Engine, busybox: str
) -> None:
    with pytest.raises(NoSuchRuntime, match="available: process"):
        await engine.create(cfg(runtime="kata2"))
    with pytest.raises(NoSuchNetwork, match=r"no such network: bridge .*pouch-cni"):
        await engine.create(cfg(networks=["bridge"]))
    with pytest.raises(NoSuchNetwork, match=r"no such network: elsewhere$"):
        await engine.create(cfg(networks=["elsewhere"]))
    with pytest.raises(NoSuchImage):
        await engine.create(cfg(image="no-such-image:1"))
    with pytest.raises(InvalidArgument, match="user"):
        await engine.create(cfg(user="a:b:c"))
    assert engine.list(all=True) == []
    assert list((engine.config.root / "containers").glob("*")) == []


async def test_an_image_without_a_command_needs_one(engine: Engine, busybox_rootfs: Path) -> None:
    load = functools.partial(
        engine.images.store.import_rootfs, busybox_rootfs, "bare:1", config=ImageConfig()
    )
    await anyio.to_thread.run_sync(load)
    with pytest.raises(InvalidArgument, match="no command to run") as nothing:
        await engine.create(cfg(image="bare:1"))
    assert nothing.value.field == "cmd"
    assert (await engine.create(cfg(image="bare:1", cmd=["true"]))).config.cmd == ["true"]
    assert len(engine.list(all=True)) == 1


async def test_named_volume_survives_the_container(engine: Engine, busybox: str) -> None:
    mount = Mount(type="volume", source="data", target="/data")
    container = await engine.create(cfg(cmd=["true"], mounts=[msgspec.to_builtins(mount)]))
    volume = await engine.volumes.inspect("data")
    with pytest.raises(Conflict, match="in use"):
        await engine.volumes.remove("data")
    await engine.remove(container.id, volumes=True)
    assert (await engine.volumes.inspect("data")).name == volume.name
    await engine.volumes.remove("data")


async def test_attach_before_start_sees_the_first_line(engine: Engine, busybox: str) -> None:
    container = await engine.create(cfg(cmd=["sh", "-c", "echo first; echo oops >&2"]))
    seen: list[tuple[str, bytes]] = []
    with anyio.fail_after(20):
        async with engine.attach(container.id) as attached, anyio.create_task_group() as tg:

            async def read() -> None:
                async for item in attached.output():
                    seen.append(item)

            tg.start_soon(read)
            await anyio.sleep(0.05)
            await engine.start(container.id)
    assert sorted(seen) == [("stderr", b"oops\n"), ("stdout", b"first\n")]


async def test_update_and_filters(engine: Engine, busybox: str) -> None:
    container = await engine.create(cfg(cmd=["true"], labels={"tier": "front", "app": "a"}))
    await engine.create(cfg(cmd=["true"], labels={"tier": "back", "app": "a"}))
    assert [c.id for c in engine.list(all=True, filters={"label": ["tier=front"]})] == [
        container.id
    ]
    # docker-compose asks for its project's and a service's label: both must match.
    both = {"label": ["app=a", "tier=front"]}
    assert [c.id for c in engine.list(all=True, filters=both)] == [container.id]
    with pytest.raises(InvalidArgument, match="unknown filter"):
        engine.list(filters={"colour": ["red"]})
    from pouch.models import Resources

    updated = await engine.update(container.id, Resources(pids_limit=50))
    assert updated.config.resources.pids_limit == 50
    assert engine.inspect(container.id).config.resources.pids_limit == 50


async def test_builtin_networks_and_driver_errors(engine: Engine, busybox: str) -> None:
    assert [n.name for n in engine.networks.list()] == ["host", "none"]
    with pytest.raises(NoSuchNetworkDriver, match="available: host, none"):
        await engine.networks.create("mynet", driver="bridge")
    with pytest.raises(Conflict, match="pre-defined"):
        await engine.networks.remove("host")
    with pytest.raises(InvalidArgument, match="only one instance"):
        await engine.networks.create("other", driver="host")


async def test_auto_remove_removes_the_container_once_it_exits(
    engine: Engine, busybox: str
) -> None:
    container = await engine.create(cfg(cmd=["sh", "-c", "echo bye"], auto_remove=True))
    seen: list[bytes] = []
    codes: list[int] = []

    async def wait_removed() -> None:
        codes.append(await engine.wait(container.id, condition="removed"))

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg, engine.attach(container.id) as attached:
            tg.start_soon(wait_removed)
            await anyio.sleep(0.05)
            await engine.start(container.id)
            async for _, chunk in attached.output():
                seen.append(chunk)
    assert codes == [0]
    assert seen == [b"bye\n"]
    assert engine.list(all=True) == []
    with pytest.raises(msgspec.ValidationError, match="conflict"):
        cfg(auto_remove=True, restart_policy={"name": "always"})


async def test_concurrent_creates_never_share_a_generated_name(
    engine: Engine, busybox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pouch.engine._names

    names = iter(["same_name"] * 3 + [f"name_{n}" for n in range(100)])
    monkeypatch.setattr(pouch.engine._names, "generate_name", lambda: next(names))
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(engine.create, cfg(cmd=["true"]))
    created = sorted(c.name for c in engine.list(all=True))
    assert len(created) == 3 and len(set(created)) == 3


async def test_log_path_option_puts_only_the_log_elsewhere(
    engine: Engine, busybox: str, tmp_path: Path
) -> None:
    log = tmp_path / "kubelet" / "web.log"
    log.parent.mkdir()
    container = await engine.create(
        cfg(cmd=["sh", "-c", "echo to the side"], log_options={"path": str(log)})
    )
    assert container.log_path == str(log)
    assert container.home == engine.config.root / "containers" / container.id
    await engine.start(container.id)
    assert await engine.wait(container.id) == 0
    assert log.read_text().rstrip().endswith("stdout F to the side")
    records = [r.message async for r in engine.logs(container.id)]
    assert records == [b"to the side"]
    await engine.remove(container.id)
    assert not container.home.exists()
    assert log.exists()  # the log's owner (kubelet) removes it, as with containerd
