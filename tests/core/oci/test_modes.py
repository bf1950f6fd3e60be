"""Namespaces, /dev/shm, devices and device rules in the spec, as docker's flags ask."""

from __future__ import annotations

import os
from typing import Any

import msgspec
import pytest

from pouch.errors import InvalidArgument
from pouch.models import ContainerConfig
from pouch.oci import ImageConfig, LinuxDeviceCgroup, Spec, build_spec, join_namespace


def build(cgroup_version: int = 1, **config: Any) -> Spec:
    return build_spec(
        msgspec.convert({"image": "busybox", **config}, ContainerConfig),
        image=ImageConfig(cmd=["sh"]),
        container_id="c0ffee",
        hostname="c0ffee",
        cgroup_version=1 if cgroup_version == 1 else 2,
        rlimit_ceiling={},
    )


def kinds(spec: Spec) -> list[str]:
    assert spec.linux is not None
    return [n.type for n in spec.linux.namespaces]


def shm(spec: Spec) -> list[tuple[str, str, list[str]]]:
    return [(m.type, m.source, m.options) for m in spec.mounts if m.destination == "/dev/shm"]


def test_host_modes_leave_the_namespace_out() -> None:
    assert kinds(build()) == ["pid", "ipc", "uts", "mount", "network"]
    spec = build(pid_mode="host", ipc_mode="host", uts_mode="host")
    assert kinds(spec) == ["mount", "network"]
    assert spec.hostname == ""  # runc names only a UTS namespace of its own
    assert shm(spec) == [("bind", "/dev/shm", ["rbind"])]


def test_container_modes_keep_the_namespace_to_be_joined() -> None:
    spec = build(pid_mode="container:web", uts_mode="container:web")
    assert kinds(spec) == ["pid", "ipc", "uts", "mount", "network"]
    assert spec.hostname == ""
    assert spec.linux is not None
    join_namespace(spec.linux.namespaces, "pid", 42)
    assert [n.path for n in spec.linux.namespaces if n.type == "pid"] == ["/proc/42/ns/pid"]


@pytest.mark.parametrize(
    ("version", "mode", "has_cgroupns"),
    [(1, "", False), (2, "", True), (1, "private", True), (2, "host", False)],
)
def test_cgroupns(version: int, mode: str, has_cgroupns: bool) -> None:
    assert ("cgroup" in kinds(build(version, cgroupns_mode=mode))) is has_cgroupns


def test_shm_size_and_ipc_none() -> None:
    assert shm(build())[0][2][-1] == f"size={64 * 1024 * 1024}"
    assert shm(build(shm_size=16 * 1024 * 1024))[0][2][-1] == f"size={16 * 1024 * 1024}"
    assert shm(build(ipc_mode="none")) == []


def test_device_nodes_are_read_from_the_host() -> None:
    spec = build(devices=[{"path_on_host": "/dev/null", "path_in_container": "/dev/n"}])
    assert spec.linux is not None and spec.linux.resources is not None
    node = spec.linux.devices[0]
    info = os.stat("/dev/null")
    assert (node.path, node.type, node.major, node.minor) == ("/dev/n", "c", 1, 3)
    assert (node.uid, node.gid) == (info.st_uid, info.st_gid)
    allow = LinuxDeviceCgroup(allow=True, type="c", major=1, minor=3, access="rwm")
    assert spec.linux.resources.devices[-1] == allow
    with pytest.raises(InvalidArgument, match="/dev/nosuch") as caught:
        build(devices=[{"path_on_host": "/dev/nosuch"}])
    assert caught.value.field == "devices[0]"
    with pytest.raises(InvalidArgument, match="not a device node"):
        build(devices=[{"path_on_host": "/etc/hostname"}])


def test_device_cgroup_rules_follow_the_defaults() -> None:
    spec = build(device_cgroup_rules=["c 42:* rw", "a *:* m"])
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.resources.devices[-2:] == [
        LinuxDeviceCgroup(allow=True, type="c", major=42, minor=None, access="rw"),
        LinuxDeviceCgroup(allow=True, type="a", major=None, minor=None, access="m"),
    ]


def test_swappiness_on_v1_only() -> None:
    v1 = build(1, resources={"memory_swappiness": 10})
    assert v1.linux is not None and v1.linux.resources is not None
    assert v1.linux.resources.memory is not None and v1.linux.resources.memory.swappiness == 10
    v2 = build(2, resources={"memory_swappiness": 10})
    assert v2.linux is not None and v2.linux.resources is not None
    assert v2.linux.resources.memory is None


def test_update_leaves_swappiness_out_on_v2() -> None:
    from pouch.models import Resources
    from pouch.oci import resources_from

    given = Resources(memory_swappiness=10)
    v1 = resources_from(given, cgroup_version=1).memory
    assert v1 is not None and v1.swappiness == 10
    assert resources_from(given, cgroup_version=2).memory is None
