"""What a container takes from others: volumes-from at create, link variables at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import msgspec
import pytest

from pouch import oci
from pouch.drivers import Mount as RootMount
from pouch.drivers import NetworkAttachment, PortMapping
from pouch.engine._joins import check_references, expand_volumes_from, start_joins
from pouch.engine._records import Records
from pouch.errors import Conflict, InvalidArgument, NoSuchContainer
from pouch.models import Container, ContainerConfig, ContainerState, State


class FakeRecords:
    def __init__(self, *containers: Container) -> None:
        self.by = {c.name: c for c in containers}

    def lookup(self, ref: str) -> Container:
        try:
            return self.by[ref.lstrip("/")]
        except KeyError:
            raise NoSuchContainer(f"no such container: {ref}") from None


def container(name: str, running: bool = True, **config: Any) -> Container:
    return Container(
        id=name * 8,
        name=name,
        config=msgspec.convert({"image": "busybox", **config}, ContainerConfig),
        image_id="sha256:x",
        runtime="runc",
        created_at=0.0,
        state=ContainerState(status=State.RUNNING, pid=4242)
        if running
        else ContainerState(status=State.EXITED),
        log_path=f"/nonexistent/{name}/container.log",
    )


def records(*containers: Container) -> Records:
    return cast(Records, FakeRecords(*containers))


def spec_of(config: ContainerConfig) -> oci.Spec:
    return oci.build_spec(
        config,
        image=oci.ImageConfig(cmd=["sh"], env=["PATH=/bin"]),
        container_id="c0ffee",
        hostname="c0ffee",
        cgroup_version=1,
        rlimit_ceiling={},
    )


def test_volumes_from_copies_volumes_and_binds() -> None:
    data = container(
        "data",
        mounts=[
            {"type": "volume", "target": "/anon"},
            {"type": "volume", "source": "named", "target": "/named", "read_only": True},
            {"type": "bind", "source": "/srv", "target": "/srv"},
            {"type": "tmpfs", "target": "/tmp"},
        ],
    )
    data.volumes = [("local", "a" * 64), ("local", "named")]
    config = msgspec.convert(
        {
            "image": "b",
            "volumes_from": ["data:rw"],
            "mounts": [{"type": "bind", "source": "/mine", "target": "/srv"}],
        },
        ContainerConfig,
    )
    mounts = expand_volumes_from(records(data), config).mounts
    shown = [(m.type, m.source, m.target, m.read_only) for m in mounts]
    assert shown == [
        ("bind", "/mine", "/srv", False),  # its own mount wins
        ("volume", "a" * 64, "/anon", False),
        ("volume", "named", "/named", False),  # :rw overrides
    ]
    with pytest.raises(InvalidArgument, match="no such container: gone"):
        expand_volumes_from(
            records(), msgspec.convert({"image": "b", "volumes_from": ["gone"]}, ContainerConfig)
        )


def test_references_must_exist() -> None:
    config = msgspec.convert({"image": "b", "pid_mode": "container:web"}, ContainerConfig)
    with pytest.raises(InvalidArgument) as caught:
        check_references(records(), config)
    assert caught.value.field == "pid_mode"
    check_references(records(container("web")), config)


def test_links_give_docker_variables_and_a_hosts_line() -> None:
    db = container(
        "db",
        env=["SECRET=s3", "HOME=/root"],
        ports=[{"container_port": 5432}],
        exposed_ports=["80/tcp", "53/udp"],
    )
    db.attachments = [NetworkAttachment(network="bridge", ips=["10.0.0.7/24"])]
    db.spec = msgspec.json.encode(spec_of(db.config))
    web = container("web", links=["db:my-db"], env=["MY_DB_ENV_SECRET=mine"])
    spec = spec_of(web.config)
    hosts = start_joins(records(db), web, spec, [])
    assert hosts == [f"10.0.0.7\tmy-db {db.id[:12]} db"]
    assert spec.process is not None
    env = spec.process.env
    assert "MY_DB_NAME=/web/my-db" in env
    assert "MY_DB_PORT=udp://10.0.0.7:53" in env  # the lowest port first
    assert "MY_DB_PORT_5432_TCP=tcp://10.0.0.7:5432" in env
    assert "MY_DB_PORT_80_TCP_ADDR=10.0.0.7" in env
    assert "MY_DB_PORT_80_TCP_PORT=80" in env and "MY_DB_PORT_53_UDP_PROTO=udp" in env
    assert "MY_DB_ENV_SECRET=mine" in env and "MY_DB_ENV_SECRET=s3" not in env  # its own wins
    assert not [e for e in env if e.startswith(("MY_DB_ENV_HOME", "MY_DB_ENV_PATH"))]
    assert PortMapping(container_port=5432) in db.config.ports


def test_namespaces_of_running_containers_are_joined() -> None:
    web = container("web")
    me = container("me", pid_mode="container:web", uts_mode="container:web")
    spec = spec_of(me.config)
    start_joins(records(web), me, spec, [])
    assert spec.linux is not None
    paths = {n.type: n.path for n in spec.linux.namespaces}
    assert (paths["pid"], paths["uts"], paths["ipc"]) == (
        "/proc/4242/ns/pid",
        "/proc/4242/ns/uts",
        "",
    )
    stopped = container("web", running=False)
    with pytest.raises(Conflict, match="container web: it is not running"):
        start_joins(records(stopped), me, spec_of(me.config), [])
    private = container("web")
    joiner = container("me", ipc_mode="container:web")
    with pytest.raises(Conflict, match="not shareable"):
        start_joins(records(private), joiner, spec_of(joiner.config), [])


def test_group_names_come_from_the_top_layer_first(tmp_path: Path) -> None:
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    for layer, text in ((upper, "audio:x:63:\n"), (lower, "audio:x:29:\nvideo:x:44:\n")):
        (layer / "etc").mkdir(parents=True)
        (layer / "etc" / "group").write_text(text)
    rootfs = [
        RootMount(
            type="overlay", source="overlay", options=[f"lowerdir={lower}", f"upperdir={upper}"]
        )
    ]
    me = container("me", group_add=["audio", "1234"])
    spec = spec_of(me.config)
    start_joins(records(), me, spec, rootfs)
    assert spec.process is not None and spec.process.user.additional_gids == [63, 1234]
    unknown = container("me", group_add=["video"])
    with pytest.raises(InvalidArgument, match="unable to find group video"):
        start_joins(
            records(),
            unknown,
            spec_of(unknown.config),
            [RootMount(type="bind", source=str(upper))],
        )
