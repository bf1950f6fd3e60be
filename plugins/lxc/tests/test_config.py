"""The LXC configuration a spec becomes, and the monitor's reading of LXC's log (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest
from pouch_lxc._config import render
from pouch_lxc._monitor import exit_status, started_pid
from pouch_lxc._paths import ensure_target

from pouch import oci
from pouch.drivers import Mount, RuntimeContainer, Sandbox
from pouch.errors import InvalidArgument
from pouch.models import ContainerConfig
from pouch.users import resolve_user

CID = "c" * 64


def container(
    sandbox: Sandbox | None = None, etc: bool = False, **options: object
) -> RuntimeContainer:
    options.setdefault("image", "busybox")
    options.setdefault("cmd", ["sh", "-c", "echo a  b"])
    config = msgspec.convert(options, ContainerConfig)
    mounts = []
    if etc:
        mounts.append(
            oci.Mount(
                destination="/etc/hosts",
                type="bind",
                source="/etc/hosts",
                options=["rbind", "rprivate", "rw"],
            )
        )
    spec = oci.build_spec(
        config,
        image=oci.ImageConfig(env=["PATH=/bin"], working_dir="/work"),
        container_id=CID,
        hostname="box",
        cgroup_version=1,
        rlimit_ceiling={"RLIMIT_NOFILE": -1},
        mounts=mounts,
    )
    return RuntimeContainer(
        id=CID,
        sandbox=sandbox or Sandbox(id=CID, hostname="box"),
        spec=spec,
        rootfs=[Mount(type="overlay", source="overlay")],
        bundle=Path("/nonexistent"),
        log_path=Path("/nonexistent/log"),
    )


def lines(c: RuntimeContainer, version: int = 1) -> list[str]:
    user = oci.User(uid=0, gid=0)
    text = render(
        c,
        rootfs=Path("/r"),
        hook_path=Path("/h k"),
        seccomp_path=Path("/s"),
        user=user,
        cgroup_version=version,
    )
    return text.text.splitlines()


def value(config: list[str], key: str) -> list[str]:
    return [line.split(" = ", 1)[1] for line in config if line.startswith(key + " = ")]


def test_a_plain_container() -> None:
    config = lines(container())
    assert value(config, "lxc.rootfs.path") == ["dir:/r"]
    assert value(config, "lxc.rootfs.managed") == ["0"]
    assert value(config, "lxc.uts.name") == ["box"]
    assert value(config, "lxc.init.cwd") == ["/work"]
    assert "PATH=/bin" in value(config, "lxc.environment")
    assert value(config, "lxc.namespace.clone") == ["pid ipc uts mnt net cgroup"]
    assert value(config, "lxc.net.0.type") == ["empty"]
    assert value(config, "lxc.cgroup.dir.container") == [f"pouch/{CID}"]
    assert value(config, "lxc.cgroup.dir.monitor") == [f"pouch-lxc/{CID}"]
    assert value(config, "lxc.cgroup.devices.deny") == ["a"]
    assert "c 1:3 rwm" in value(config, "lxc.cgroup.devices.allow")
    assert value(config, "lxc.mount.auto") == ["proc:mixed sys:ro cgroup:ro:force"]
    assert value(config, "lxc.autodev") == ["1"]
    assert value(config, "lxc.console.path") == ["none"]
    assert value(config, "lxc.apparmor.profile") == ["unconfined"]
    soft, hard = value(config, "lxc.prlimit.nofile")[0].split(":")
    assert soft.isdigit() and hard.isdigit()
    # The command is not in the file: LXC would split it at its spaces.
    assert not value(config, "lxc.init.cmd")
    # Docker's default capabilities, by number: chown(0) ... setfcap(31).
    keep = value(config, "lxc.cap.keep")[0].split()
    assert keep[0] == "0" and "21" not in keep and keep[-1] == "31"
    assert any("shm dev/shm tmpfs" in e for e in value(config, "lxc.mount.entry"))


def test_a_pinned_network_namespace_is_joined_by_path() -> None:
    sandbox = Sandbox(id=CID, netns_path="/run/netns/pouch-x")
    config = lines(container(sandbox))
    assert value(config, "lxc.namespace.share.net") == ["/run/netns/pouch-x"]
    assert "net" not in value(config, "lxc.namespace.clone")[0].split()
    assert not value(config, "lxc.net.0.type")


def test_the_host_network() -> None:
    config = lines(container(networks=["host"]))
    assert "net" not in value(config, "lxc.namespace.clone")[0].split()
    assert value(config, "lxc.net.0.type") == ["none"]


def test_host_and_joined_namespaces() -> None:
    config = lines(container(pid_mode="host", uts_mode="host", cgroupns_mode="host"))
    assert value(config, "lxc.namespace.clone") == ["ipc mnt net"]
    assert not value(config, "lxc.uts.name")  # the host's name stays
    joined = container(ipc_mode="container:web")
    assert joined.spec.linux is not None
    oci.join_namespace(joined.spec.linux.namespaces, "ipc", 42)
    config = lines(joined)
    assert value(config, "lxc.namespace.share.ipc") == ["/proc/42/ns/ipc"]
    assert "ipc" not in value(config, "lxc.namespace.clone")[0].split()


def test_shm_size_and_device_rules() -> None:
    config = lines(container(shm_size=16 * 1024 * 1024, device_cgroup_rules=["c 42:* rw"]))
    assert any(f"size={16 * 1024 * 1024}" in e for e in value(config, "lxc.mount.entry"))
    assert "c 42:* rw" in value(config, "lxc.cgroup.devices.allow")


def test_rlimits_unlimited() -> None:
    c = container(ulimits=[{"name": "core", "soft": -1, "hard": -1}])
    assert value(lines(c), "lxc.prlimit.core") == ["unlimited:unlimited"]


def test_read_only_root_privileged_and_limits_v1() -> None:
    c = container(
        read_only_rootfs=True,
        privileged=True,
        resources={"memory": 64 << 20, "cpus": 0.5, "pids_limit": 10},
    )
    config = lines(c)
    assert value(config, "lxc.rootfs.options") == ["ro"]
    assert not value(config, "lxc.cap.keep")  # every capability
    assert value(config, "lxc.mount.auto") == ["proc:rw sys:rw cgroup:rw:force"]
    assert value(config, "lxc.cgroup.devices.allow") == ["a"]
    assert value(config, "lxc.cgroup.memory.limit_in_bytes") == [str(64 << 20)]
    assert value(config, "lxc.cgroup.cpu.cfs_quota_us") == ["50000"]
    assert value(config, "lxc.cgroup.cpu.cfs_period_us") == ["100000"]
    assert value(config, "lxc.cgroup.pids.max") == ["10"]


def test_limits_on_cgroup_v2() -> None:
    c = container(resources={"memory": 64 << 20, "memory_swap": 128 << 20, "cpus": 1.5})
    config = lines(c, version=2)
    assert value(config, "lxc.cgroup2.memory.max") == [str(64 << 20)]
    assert value(config, "lxc.cgroup2.memory.swap.max") == [str(64 << 20)]
    assert value(config, "lxc.cgroup2.cpu.max") == ["150000 100000"]
    assert value(config, "lxc.cgroup2.devices.deny") == ["a"]
    assert not [line for line in config if line.startswith("lxc.cgroup.memory")]


def test_mount_entries_are_escaped_and_targets_listed(tmp_path: Path) -> None:
    source = tmp_path / "a dir"
    source.mkdir()
    c = container(
        etc=True,
        mounts=[{"type": "bind", "source": str(source), "target": "/data x", "read_only": True}],
        tmpfs={"/scratch": "size=1m"},
    )
    rendered = render(
        c,
        rootfs=Path("/r"),
        hook_path=Path("/h"),
        seccomp_path=Path("/s"),
        user=oci.User(uid=0, gid=0),
        cgroup_version=1,
    )
    entries = value(rendered.text.splitlines(), "lxc.mount.entry")
    escaped = str(source).replace(" ", "\\040")
    assert f"{escaped} data\\040x none rbind,ro,create=dir 0 0" in entries
    assert "tmpfs scratch tmpfs nosuid,nodev,noexec,size=1m,create=dir 0 0" in entries
    assert "/etc/hosts etc/hosts none rbind,rprivate,rw,create=file 0 0" in entries
    assert ("/data x", True) in rendered.targets and ("/etc/hosts", False) in rendered.targets
    assert ("/work", True) in rendered.targets


def test_sysctls_go_through_the_start_host_hook() -> None:
    c = container(sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmni": "1 2"})
    rendered = render(
        c,
        rootfs=Path("/r"),
        hook_path=Path("/h k"),
        seccomp_path=Path("/s"),
        user=oci.User(uid=0, gid=0),
        cgroup_version=1,
    )
    config = rendered.text.splitlines()
    assert value(config, "lxc.hook.start-host") == ["'/h k'"]
    assert not [line for line in config if line.startswith("lxc.sysctl")]
    assert "/proc/sys/net/ipv4/ip_forward" in rendered.hook
    assert "'1 2'" in rendered.hook and '--target "$LXC_PID"' in rendered.hook


def test_values_that_would_break_the_file_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        lines(container(env=["A=two\nlines"]))
    c = container()
    assert c.spec.linux is not None
    c.spec.linux.sysctl["kernel/../../x"] = "1"  # past the model's own validation
    with pytest.raises(InvalidArgument):
        lines(c)


def test_the_init_user() -> None:
    c = container()
    text = render(
        c,
        rootfs=Path("/r"),
        hook_path=Path("/h"),
        seccomp_path=Path("/s"),
        user=oci.User(uid=65534, gid=65534, additional_gids=[10, 20]),
        cgroup_version=1,
    ).text.splitlines()
    assert value(text, "lxc.init.uid") == ["65534"]
    assert value(text, "lxc.init.groups") == ["10,20"]


def test_user_names_resolve_against_the_image(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("app:x:1000:1001::/home/app:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("app:x:1001:\nextra:x:2000:app\n")
    user = resolve_user(oci.User(uid=0, gid=0, username="app"), tmp_path)
    assert (user.uid, user.gid, user.additional_gids) == (1000, 1001, [2000])
    with pytest.raises(InvalidArgument):
        resolve_user(oci.User(uid=0, gid=0, username="ghost"), tmp_path)


def test_targets_never_follow_symlinks_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(str(outside), root / "link")
    assert not ensure_target(root, "/link/x", directory=True)
    assert not (outside / "x").exists()
    assert ensure_target(root, "/a/b", directory=True) and (root / "a" / "b").is_dir()
    assert ensure_target(root, "/etc/hosts", directory=False)
    assert (root / "etc" / "hosts").is_file()


LOG = (
    b'lxc-start c 20260101 NOTICE start - start.c:post_start:2205 - Started "sh" with pid "4242"\n'
    b"lxc-start c 20260101 INFO error - error.c:lxc_error_set_and_log:31"
    b" - Child <4242> ended on error (7)\n"
)


def test_the_exit_code_comes_from_lxcs_log() -> None:
    assert started_pid(LOG) == 4242
    assert exit_status(LOG, 4242, 0) == (7, "")
    killed = LOG.replace(b"ended on error (7)", b"ended on signal Killed(9)")
    assert exit_status(killed, 4242, 0) == (137, "")
    assert exit_status(LOG.splitlines()[0], 4242, 0) == (0, "")


def test_a_failed_start_reports_lxcs_error() -> None:
    log = (
        b"lxc-start c 1 ERROR    start - start.c:start:2197 - No such file or directory"
        b' - Failed to exec "nope"\n'
    )
    code, error = exit_status(log, 0, 1)
    assert code == 127 and 'Failed to exec "nope"' in error


def test_seccomp_becomes_a_liblxc_policy() -> None:
    from pouch_lxc._seccomp import policy

    seccomp = oci.LinuxSeccomp(
        default_action="SCMP_ACT_ERRNO",
        default_errno_ret=1,
        syscalls=[
            oci.LinuxSyscall(names=["read", "write"], action="SCMP_ACT_ALLOW"),
            oci.LinuxSyscall(
                names=["clone"],
                action="SCMP_ACT_ALLOW",
                args=[oci.LinuxSeccompArg(index=0, value=2114060288, op="SCMP_CMP_MASKED_EQ")],
            ),
            oci.LinuxSyscall(names=["clone3"], action="SCMP_ACT_ERRNO", errno_ret=38),
        ],
    )
    assert policy(seccomp).splitlines() == [
        "2",
        "allowlist errno 1",
        "[all]",
        "read allow",
        "write allow",
        "clone allow [0,2114060288,SCMP_CMP_MASKED_EQ,0]",
        "clone3 errno 38",
    ]
    denylist = oci.LinuxSeccomp(
        default_action="SCMP_ACT_ALLOW",
        syscalls=[oci.LinuxSyscall(names=["mkdir"], action="SCMP_ACT_ERRNO")],
    )
    assert policy(denylist).splitlines()[1:] == ["denylist", "[all]", "mkdir errno 1"]
    c = container()
    spec = c.spec
    assert spec.linux is not None
    spec.linux.seccomp = denylist
    rendered = render(
        c,
        rootfs=Path("/r"),
        hook_path=Path("/h"),
        seccomp_path=Path("/s"),
        user=oci.User(uid=0, gid=0),
        cgroup_version=2,
    )
    assert value(rendered.text.splitlines(), "lxc.seccomp.profile") == ["/s"]
    assert rendered.seccomp == policy(denylist)
