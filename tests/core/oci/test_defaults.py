"""The default spec gives a container what ``docker run`` would give it."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pouch.errors import InvalidArgument
from pouch.models import ContainerConfig, Mount, Resources, Ulimit
from pouch.oci import (
    DEFAULT_CAPABILITIES,
    RLIM_INFINITY,
    ImageConfig,
    LinuxDeviceCgroup,
    Spec,
    all_capabilities,
    build_spec,
    detect_cgroup_version,
    resources_from,
)
from pouch.oci import Mount as OCIMount

CEILING = {"RLIMIT_NOFILE": 65536, "RLIMIT_NPROC": 4096}


def build(
    image: ImageConfig | None = None,
    *,
    resolved: list[OCIMount] | None = None,
    cgroup_version: int = 1,
    ceiling: dict[str, int] | None = CEILING,
    **config: Any,
) -> Spec:
    config.setdefault("image", "busybox")
    if image is None:
        image = ImageConfig(cmd=["sh"])
    return build_spec(
        ContainerConfig(**config),
        image=image,
        container_id="c0ffee",
        hostname="c0ffee",
        cgroup_version=1 if cgroup_version == 1 else 2,
        rlimit_ceiling=ceiling,
        mounts=resolved or [],
    )


def caps(spec: Spec) -> set[str]:
    assert spec.process is not None and spec.process.capabilities is not None
    sets = spec.process.capabilities
    assert sets.bounding == sets.effective == sets.permitted
    assert not sets.inheritable and not sets.ambient
    return set(sets.bounding)


def mount_at(spec: Spec, destination: str) -> OCIMount:
    (found,) = [m for m in spec.mounts if m.destination == destination]
    return found


def env(spec: Spec) -> dict[str, str]:
    assert spec.process is not None
    return dict(item.split("=", 1) for item in spec.process.env)


# --- capabilities, privileged -------------------------------------------------


def test_an_unprivileged_container_gets_dockers_default_capabilities() -> None:
    assert caps(build()) == {"CAP_" + c for c in DEFAULT_CAPABILITIES}
    assert "CAP_SYS_ADMIN" not in caps(build())


def test_cap_drop_removes_and_cap_add_adds() -> None:
    spec = build(cap_drop=["NET_RAW"], cap_add=["cap_sys_ptrace"])
    assert "CAP_NET_RAW" not in caps(spec)
    assert "CAP_SYS_PTRACE" in caps(spec)
    assert "CAP_CHOWN" in caps(spec)


def test_cap_drop_all_keeps_only_what_is_added() -> None:
    assert caps(build(cap_drop=["ALL"], cap_add=["CHOWN"])) == {"CAP_CHOWN"}


def test_cap_add_all_grants_everything_but_the_drops() -> None:
    granted = caps(build(cap_add=["ALL"], cap_drop=["MKNOD"]))
    assert granted == {"CAP_" + c for c in all_capabilities()} - {"CAP_MKNOD"}


def test_privileged_gets_every_capability_and_nothing_masked() -> None:
    spec = build(privileged=True, cap_drop=["CHOWN"])
    assert caps(spec) == {"CAP_" + c for c in all_capabilities()}
    assert spec.linux is not None
    assert spec.linux.masked_paths == [] and spec.linux.readonly_paths == []
    assert "ro" not in mount_at(spec, "/sys").options
    assert "ro" not in mount_at(spec, "/sys/fs/cgroup").options
    assert spec.linux.resources is not None
    assert spec.linux.resources.devices == [LinuxDeviceCgroup(allow=True, type="a", access="rwm")]


def test_unprivileged_masks_kernel_interfaces_and_mounts_sys_read_only() -> None:
    spec = build()
    assert spec.linux is not None
    assert "/proc/kcore" in spec.linux.masked_paths
    assert "/proc/sys" in spec.linux.readonly_paths
    assert "ro" in mount_at(spec, "/sys").options
    assert "ro" in mount_at(spec, "/sys/fs/cgroup").options


def test_devices_are_denied_except_dockers_defaults() -> None:
    spec = build()
    assert spec.linux is not None and spec.linux.resources is not None
    rules = spec.linux.resources.devices
    assert rules[0] == LinuxDeviceCgroup(allow=False, type="a", access="rwm")
    allowed = {(r.type, r.major, r.minor) for r in rules if r.allow and r.access == "rwm"}
    assert ("c", 1, 3) in allowed  # /dev/null
    assert ("c", 136, None) in allowed  # every pty
    assert ("c", 10, 229) not in allowed  # /dev/fuse
    assert LinuxDeviceCgroup(allow=True, type="b", access="m") in rules


# --- resources ----------------------------------------------------------------


def test_memory_limit_lands_in_linux_resources() -> None:
    spec = build(resources=Resources(memory=512 << 20, memory_swap=-1))
    assert spec.linux is not None and spec.linux.resources is not None
    memory = spec.linux.resources.memory
    assert memory is not None and memory.limit == 512 << 20 and memory.swap == -1


def test_cpus_become_a_quota_over_a_100ms_period() -> None:
    cpu = resources_from(Resources(cpus=1.5)).cpu
    assert cpu is not None and (cpu.quota, cpu.period) == (150000, 100000)


def test_too_few_cpus_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resources_from(Resources(cpus=0.001))
    assert caught.value.field == "resources.cpus"


def test_other_limits_are_translated_and_unset_ones_left_out() -> None:
    res = resources_from(
        Resources(cpu_shares=512, cpuset_cpus="0-1", pids_limit=100, blkio_weight=300)
    )
    assert res.cpu is not None and (res.cpu.shares, res.cpu.cpus) == (512, "0-1")
    assert res.pids is not None and res.pids.limit == 100
    assert res.block_io is not None and res.block_io.weight == 300
    assert res.memory is None
    assert msgspec.json.encode(resources_from(Resources())) == b"{}"


# --- namespaces, sysctls ------------------------------------------------------


def namespaces(spec: Spec) -> list[str]:
    assert spec.linux is not None
    return [ns.type for ns in spec.linux.namespaces]


def test_host_network_has_no_network_namespace() -> None:
    assert "network" not in namespaces(build(networks=["host"]))
    assert "network" in namespaces(build())
    assert "network" in namespaces(build(networks=["none"]))


def test_cgroup_namespace_only_on_cgroup_v2() -> None:
    assert "cgroup" not in namespaces(build(cgroup_version=1))
    assert {"pid", "ipc", "uts", "mount", "cgroup"} <= set(namespaces(build(cgroup_version=2)))


def test_sysctls_land_in_linux_sysctl_but_not_net_ones_on_the_host_network() -> None:
    spec = build(sysctls={"net.ipv4.ip_forward": "1"})
    assert spec.linux is not None and spec.linux.sysctl == {"net.ipv4.ip_forward": "1"}
    with pytest.raises(InvalidArgument) as caught:
        build(networks=["host"], sysctls={"net.ipv4.ip_forward": "1"})
    assert caught.value.field == "sysctls"


def test_detect_cgroup_version_needs_cgroup2_at_sys_fs_cgroup(tmp_path: Path) -> None:
    hybrid = tmp_path / "hybrid"
    hybrid.write_text(
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    unified = tmp_path / "unified"
    unified.write_text("31 23 0:28 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n")
    assert detect_cgroup_version(str(hybrid)) == 1
    assert detect_cgroup_version(str(unified)) == 2
    assert detect_cgroup_version(str(tmp_path / "missing")) == 1
    assert detect_cgroup_version() in (1, 2)


# --- process: command, env, user, cwd -----------------------------------------

IMAGE = ImageConfig(entrypoint=["/ep"], cmd=["image-cmd"])


@pytest.mark.parametrize(
    ("entrypoint", "cmd", "args"),
    [
        (None, None, ["/ep", "image-cmd"]),
        (None, ["x"], ["/ep", "x"]),
        (["/u"], None, ["/u"]),  # a user entrypoint drops the image's cmd
        (["/u"], ["x"], ["/u", "x"]),
        ([], None, ["image-cmd"]),  # --entrypoint "" drops the image's entrypoint
        ([], ["x"], ["x"]),
    ],
)
def test_entrypoint_and_cmd_combine_like_docker(
    entrypoint: list[str] | None, cmd: list[str] | None, args: list[str]
) -> None:
    spec = build(IMAGE, entrypoint=entrypoint, cmd=cmd)
    assert spec.process is not None and spec.process.args == args


def test_nothing_to_run_is_left_to_the_create_hooks() -> None:
    # A rich container's init comes from a create hook; the engine refuses the
    # container if none gives a command (tests/core/test_engine.py).
    spec = build(ImageConfig())
    assert spec.process is not None and spec.process.args == []


def test_user_env_wins_per_name_over_the_image() -> None:
    image = ImageConfig(cmd=["sh"], env=["PATH=/opt/bin", "A=image", "B=image", "GONE=1"])
    spec = build(image, env=["B=user", "C=user", "GONE"])
    assert env(spec) == {
        "PATH": "/opt/bin",
        "HOSTNAME": "c0ffee",
        "A": "image",
        "B": "user",
        "C": "user",
    }


def test_path_gets_a_default_and_hostname_can_be_overridden() -> None:
    spec = build(env=["HOSTNAME=mine"], tty=True)
    assert env(spec)["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env(spec)["HOSTNAME"] == "mine"
    assert env(spec)["TERM"] == "xterm"
    assert spec.process is not None and spec.process.terminal


@pytest.mark.parametrize(
    ("image_dir", "user_dir", "cwd"),
    [("", "", "/"), ("app", "", "/app"), ("/srv", "", "/srv"), ("/srv", "/work", "/work")],
)
def test_working_dir(image_dir: str, user_dir: str, cwd: str) -> None:
    spec = build(ImageConfig(cmd=["sh"], working_dir=image_dir), working_dir=user_dir)
    assert spec.process is not None and spec.process.cwd == cwd


def test_numeric_user_and_group_are_parsed() -> None:
    spec = build(user="1000:1000")
    assert spec.process is not None
    assert (spec.process.user.uid, spec.process.user.gid, spec.process.user.username) == (
        1000,
        1000,
        "",
    )


def test_user_defaults_to_the_images_then_root() -> None:
    named = build(ImageConfig(cmd=["sh"], user="nginx"))
    assert named.process is not None
    assert (named.process.user.uid, named.process.user.username) == (0, "nginx")
    root = build()
    assert root.process is not None and (root.process.user.uid, root.process.user.gid) == (0, 0)


@pytest.mark.parametrize("user", ["1000:", ":1000", "a:b:c", "bad name", "4294967295", "-1"])
def test_an_unparsable_user_names_the_field(user: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build(user=user)
    assert caught.value.field == "user"


def test_an_unparsable_image_user_names_the_image_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        build(ImageConfig(cmd=["sh"], user="a b"))
    assert caught.value.field == "image.User"


def test_image_stop_signal_applies_unless_the_user_chose_one() -> None:
    image = ImageConfig(cmd=["sh"], stop_signal="SIGQUIT")
    assert build(image).annotations["io.pouch.container.stop-signal"] == "SIGQUIT"
    chosen = build(image, stop_signal="SIGKILL")
    assert chosen.annotations["io.pouch.container.stop-signal"] == "SIGKILL"


# --- rlimits ------------------------------------------------------------------


def rlimits(spec: Spec) -> dict[str, tuple[int, int]]:
    assert spec.process is not None
    return {r.type: (r.soft, r.hard) for r in spec.process.rlimits}


def test_nofile_defaults_to_1048576_capped_at_the_ceiling() -> None:
    assert rlimits(build())["RLIMIT_NOFILE"] == (65536, 65536)
    assert rlimits(build(ceiling={}))["RLIMIT_NOFILE"] == (1048576, 1048576)


def test_ulimits_are_capped_and_unlimited_means_the_ceiling() -> None:
    spec = build(
        ulimits=[
            Ulimit(name="nofile", soft=1024, hard=999999),
            Ulimit(name="nproc", soft=-1, hard=-1),
            Ulimit(name="RLIMIT_CORE", soft=0, hard=-1),
        ]
    )
    assert rlimits(spec) == {
        "RLIMIT_NOFILE": (1024, 65536),
        "RLIMIT_NPROC": (4096, 4096),
        "RLIMIT_CORE": (0, RLIM_INFINITY),
    }


def test_the_default_ceiling_is_this_process_hard_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    spec = build(ceiling=None, ulimits=[Ulimit(name="nofile", soft=-1, hard=-1)])
    soft_got, hard_got = rlimits(spec)["RLIMIT_NOFILE"]
    if hard != resource.RLIM_INFINITY:
        assert hard_got <= hard
    assert soft_got <= hard_got


limit = st.integers(min_value=-1, max_value=2**40)


@given(soft=limit, hard=limit, ceiling=limit)
def test_rlimits_never_exceed_the_ceiling(soft: int, hard: int, ceiling: int) -> None:
    if hard != -1 and (soft == -1 or soft > hard):
        soft = hard
    spec = build(ulimits=[Ulimit(name="nofile", soft=soft, hard=hard)], ceiling={"nofile": ceiling})
    soft_got, hard_got = rlimits(spec)["RLIMIT_NOFILE"]
    assert soft_got <= hard_got
    if ceiling != -1:
        assert hard_got <= ceiling


def test_an_unknown_ulimit_names_its_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        build(ulimits=[Ulimit(name="nofiles", soft=1, hard=1)])
    assert caught.value.field == "ulimits[0].name"


# --- mounts, root, the rest -----------------------------------------------------


def test_bind_mounts_are_recursive_and_read_only_on_request() -> None:
    spec = build(mounts=[Mount(target="/data", source="/srv/data", read_only=True)])
    data = mount_at(spec, "/data")
    assert (data.type, data.source) == ("bind", "/srv/data")
    assert "rbind" in data.options and "ro" in data.options


def test_tmpfs_mounts_are_nosuid_nodev_noexec_unless_asked_otherwise() -> None:
    spec = build(tmpfs={"/run": "size=64m", "/scratch": "exec,size=1g"})
    assert set(mount_at(spec, "/run").options) == {"nosuid", "nodev", "noexec", "size=64m"}
    assert set(mount_at(spec, "/scratch").options) == {"nosuid", "nodev", "exec", "size=1g"}
    typed = build(mounts=[Mount(target="/t", type="tmpfs", read_only=True)])
    assert {"nosuid", "nodev", "noexec", "ro"} <= set(mount_at(typed, "/t").options)


def test_a_user_mount_replaces_the_default_at_the_same_place() -> None:
    spec = build(tmpfs={"/dev/shm": "size=1g"})
    assert "size=1g" in mount_at(spec, "/dev/shm").options


def test_resolved_volumes_are_mounted_read_only_on_request_and_parents_first() -> None:
    resolved = [
        OCIMount(destination="/data/sub", type="bind", source="/v/b", options=["rbind"]),
        OCIMount(destination="/data", type="bind", source="/v/a", options=["rbind"]),
        OCIMount(destination="/etc/hosts", type="bind", source="/run/h", options=["rbind"]),
    ]
    spec = build(
        ImageConfig(cmd=["sh"]),
        resolved=resolved,
        mounts=[
            Mount(target="/data", type="volume", source="a", read_only=True),
            Mount(target="/data/sub", type="volume", source="b"),
        ],
    )
    destinations = [m.destination for m in spec.mounts]
    assert destinations.index("/data") < destinations.index("/data/sub")
    assert "ro" in mount_at(spec, "/data").options
    assert "ro" not in mount_at(spec, "/data/sub").options
    assert mount_at(spec, "/etc/hosts").source == "/run/h"
    assert resolved[1].options == ["rbind"]  # the caller's mounts are not modified


def test_an_unresolved_volume_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="/data"):
        build(mounts=[Mount(target="/data", type="volume", source="a")])


def test_root_hostname_annotations_and_cgroup_path() -> None:
    spec = build(read_only_rootfs=True)
    assert spec.root is not None and (spec.root.path, spec.root.readonly) == ("rootfs", True)
    assert spec.hostname == "c0ffee"
    assert spec.annotations["io.pouch.container.id"] == "c0ffee"
    assert spec.linux is not None and spec.linux.cgroups_path == "/pouch/c0ffee"


def test_a_container_id_that_is_not_a_path_component_is_rejected() -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_spec(
            ContainerConfig(image="b", cmd=["sh"]),
            image=ImageConfig(),
            container_id="../escape",
            hostname="h",
            cgroup_version=1,
        )
    assert caught.value.field == "container_id"


def test_the_encoded_spec_uses_spec_names_and_never_sets_oom_score_adj() -> None:
    encoded = msgspec.json.encode(build(no_new_privileges=True))
    assert b'"noNewPrivileges":true' in encoded
    assert b'"cgroupsPath":"/pouch/c0ffee"' in encoded
    assert b'"maskedPaths"' in encoded and b'"readonlyPaths"' in encoded
    assert b"oomScoreAdj" not in encoded


def test_the_built_spec_round_trips() -> None:
    spec = build(resources=Resources(memory=64 << 20, cpus=0.5), user="1:2", tty=True)
    assert msgspec.json.decode(msgspec.json.encode(spec), type=Spec) == spec
