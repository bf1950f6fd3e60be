"""Docker's request bodies become pouch's models, and bad ones are refused naming the field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from pouch.daemon import docker_types as dt
from pouch.daemon._unknown import unknown_fields
from pouch.daemon.api_container_io import frame
from pouch.daemon.api_images import parse_changes
from pouch.daemon.container_views import human_duration
from pouch.daemon.translate import exec_config, to_container_config
from pouch.errors import InvalidArgument


def create(body: dict[str, Any]) -> Any:
    return to_container_config(msgspec.convert(body, dt.ContainerCreate))


def refused(body: dict[str, Any]) -> str:
    with pytest.raises((InvalidArgument, msgspec.ValidationError)) as info:
        create(body)
    return str(info.value)


def test_a_docker_cli_body_becomes_a_container_config() -> None:
    config = create(
        {
            "Image": "busybox",
            "Cmd": "echo",
            "Env": ["A=1"],
            "Labels": {"l": "v"},
            "Volumes": {"/anon": {}},
            "HostConfig": {
                "Binds": ["data:/data:ro", "/srv:/srv"],
                "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                "Memory": 64 * 1024 * 1024,
                "NanoCpus": 1_500_000_000,
                "PidsLimit": 0,
                "CpuShares": 0,
                "SecurityOpt": ["no-new-privileges:true"],
                "CapAdd": ["NET_ADMIN"],
                "NetworkMode": "default",
                "Dns": [],
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
            },
        }
    )
    assert config.auto_remove is False
    assert config.cmd == ["echo"] and config.env == ["A=1"] and config.labels == {"l": "v"}
    mounts = {m.target: m for m in config.mounts}
    assert mounts["/data"].type == "volume" and mounts["/data"].source == "data"
    assert mounts["/data"].read_only and mounts["/srv"].type == "bind"
    assert mounts["/anon"].type == "volume" and not mounts["/anon"].source
    assert [(p.container_port, p.host_port, p.host_ip) for p in config.ports] == [
        (80, 8080, "127.0.0.1")
    ]
    assert config.restart_policy.name == "on-failure"
    assert config.resources.memory == 64 * 1024 * 1024 and config.resources.cpus == 1.5
    assert config.resources.pids_limit is None and config.resources.cpu_shares is None
    assert config.no_new_privileges and config.cap_add == ["NET_ADMIN"]
    assert config.networks == [] and config.log_options == {"max-size": "1m"}


def test_auto_remove_is_the_engines() -> None:
    assert create({"Image": "busybox", "HostConfig": {"AutoRemove": True}}).auto_remove


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"Image": "busybox", "HostConfig": {"Memory": "1g"}}, "$.HostConfig.Memory"),
        ({"Image": "busybox", "HostConfig": {"Memory": 5}}, "$.HostConfig.Memory"),
        ({"Image": "busybox", "Env": "A=1"}, "$.Env"),
        ({"Image": "busybox", "Env": ["=x"]}, "Env[0]"),
        ({"Image": 7}, "$.Image"),
        ({"Image": ""}, "Image"),
        ({"Image": "b", "WorkingDir": "rel"}, "WorkingDir"),
        (
            {"Image": "b", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}},
            "RestartPolicy.Name",
        ),
        ({"Image": "b", "HostConfig": {"CpusetCpus": "x"}}, "HostConfig.CpusetCpus"),
        ({"Image": "b", "HostConfig": {"Binds": ["nocolon"]}}, "HostConfig.Binds[0]"),
        ({"Image": "b", "HostConfig": {"Binds": ["/a:/b:zz"]}}, "HostConfig.Binds[0]"),
        ({"Image": "b", "HostConfig": {"PortBindings": {"x/tcp": []}}}, "PortBindings"),
        ({"Image": "b", "HostConfig": {"Dns": ["dns.example"]}}, "HostConfig.Dns"),
        ({"Image": "b", "HostConfig": {"PidMode": "shared"}}, "HostConfig.PidMode"),
        ({"Image": "b", "HostConfig": {"IpcMode": "container:"}}, "HostConfig.IpcMode"),
        ({"Image": "b", "HostConfig": {"UTSMode": "private"}}, "HostConfig.UTSMode"),
        ({"Image": "b", "Hostname": "h", "HostConfig": {"UTSMode": "host"}}, "HostConfig.UTSMode"),
        ({"Image": "b", "HostConfig": {"CgroupnsMode": "shared"}}, "HostConfig.CgroupnsMode"),
        ({"Image": "b", "HostConfig": {"Devices": [{"PathOnHost": "x"}]}}, "HostConfig.Devices[0]"),
        (
            {
                "Image": "b",
                "HostConfig": {"Devices": [{"PathOnHost": "/x", "CgroupPermissions": "z"}]},
            },
            "HostConfig.Devices[0]",
        ),
        (
            {"Image": "b", "HostConfig": {"DeviceCgroupRules": ["x"]}},
            "HostConfig.DeviceCgroupRules",
        ),
        ({"Image": "b", "HostConfig": {"DeviceRequests": [{"Count": -1}]}}, "no GPU support"),
        ({"Image": "b", "HostConfig": {"ShmSize": -1}}, "HostConfig.ShmSize"),
        ({"Image": "b", "HostConfig": {"GroupAdd": ["a b"]}}, "HostConfig.GroupAdd"),
        ({"Image": "b", "HostConfig": {"ExtraHosts": ["db"]}}, "HostConfig.ExtraHosts"),
        ({"Image": "b", "HostConfig": {"DnsSearch": ["a b"]}}, "HostConfig.DnsSearch"),
        ({"Image": "b", "HostConfig": {"DnsOptions": ["a b"]}}, "HostConfig.DnsOptions"),
        ({"Image": "b", "HostConfig": {"VolumesFrom": ["a:rx"]}}, "HostConfig.VolumesFrom"),
        ({"Image": "b", "HostConfig": {"Links": ["a:b:c"]}}, "HostConfig.Links"),
        ({"Image": "b", "HostConfig": {"MemorySwappiness": 101}}, "HostConfig.MemorySwappiness"),
        (
            {
                "Image": "b",
                "HostConfig": {"LogConfig": {"Type": "none", "Config": {"max-size": "1m"}}},
            },
            "HostConfig.LogConfig",
        ),
        ({"Image": "b", "HostConfig": {"Isolation": "hyperv"}}, "HostConfig.Isolation"),
        ({"Image": "b", "HostConfig": {"SecurityOpt": ["apparmor=mine"]}}, "SecurityOpt[0]"),
        (
            {"Image": "b", "HostConfig": {"SecurityOpt": ["no-new-privileges", 'seccomp={"x": 1']}},
            "HostConfig.SecurityOpt[1]",
        ),
        ({"Image": "b", "HostConfig": {"LogConfig": {"Type": "syslog"}}}, "LogConfig.Type"),
        (
            {
                "Image": "b",
                "HostConfig": {"NetworkMode": "container:x", "PortBindings": {"80/tcp": None}},
            },
            "NetworkMode",
        ),
        (
            {"Image": "b", "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}},
            "HostConfig.AutoRemove",
        ),
        (
            {"Image": "b", "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 9, "Hard": 1}]}},
            "$.HostConfig.Ulimits[0]",
        ),
    ],
)
def test_bad_bodies_are_refused_naming_the_docker_field(body: dict[str, Any], named: str) -> None:
    assert named in refused(body)


def test_unknown_fields_are_found_by_path() -> None:
    document = {
        "Image": "b",
        "Imgae": "x",
        "HostConfig": {"Memroy": 1, "Mounts": [{"Tpye": "bind"}]},
    }
    assert unknown_fields(document, dt.ContainerCreate) == [
        "$.Imgae",
        "$.HostConfig.Memroy",
        "$.HostConfig.Mounts[0].Tpye",
    ]


def test_exec_bodies() -> None:
    config = exec_config(msgspec.convert({"Cmd": ["ls", "-l"], "AttachStdin": True}, dt.ExecCreate))
    assert config.cmd == ["ls", "-l"] and config.stdin
    with pytest.raises(InvalidArgument, match="Cmd"):
        exec_config(dt.ExecCreate())
    with pytest.raises(InvalidArgument, match="WorkingDir"):
        exec_config(dt.ExecCreate(Cmd=["x"], WorkingDir="relative"))


def test_import_changes_set_the_image_config() -> None:
    config = parse_changes(
        ['CMD ["sh"]', "ENV PATH=/bin", "ENV A b", "WORKDIR /w", "EXPOSE 80", "LABEL k=v"]
    )
    assert config.cmd == ["sh"] and config.env == ["PATH=/bin", "A=b"]
    assert config.working_dir == "/w" and config.exposed_ports == {"80/tcp": {}}
    assert config.labels == {"k": "v"}
    with pytest.raises(InvalidArgument, match="changes"):
        parse_changes(["RUN rm -rf /"])


def test_frames_and_durations() -> None:
    assert frame("stdout", b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frame("stderr", b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(30) == "30 seconds"
    assert human_duration(90) == "About a minute"
    assert human_duration(3 * 3600) == "3 hours"


def test_the_openapi_document_describes_every_route() -> None:
    import re
    from pathlib import Path

    import yaml

    import pouch.daemon
    from pouch.daemon.server import build_router

    document = yaml.safe_load((Path(pouch.daemon.__file__).parent / "openapi.yaml").read_text())
    described = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "delete", "head")
    }
    served = set()
    for method, pattern, _ in build_router().routes:
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.pattern[1:-1]).replace("\\", "")
        served.add((method, path))
    assert served - described == set()
    assert {(m, p) for m, p in described if m != "HEAD"} - served == set()


@pytest.mark.parametrize(
    ("options", "no_new_privileges", "profile"),
    [
        ([], False, ""),
        (["seccomp=unconfined", "no-new-privileges"], True, "unconfined"),
        (["seccomp:unconfined", "no-new-privileges=false"], False, "unconfined"),
        (["seccomp=builtin", "apparmor=unconfined", "label=disable"], False, ""),
        (
            ['seccomp={"defaultAction": "SCMP_ACT_ALLOW"}'],
            False,
            '{"defaultAction": "SCMP_ACT_ALLOW"}',
        ),
    ],
)
def test_security_options(options: list[str], no_new_privileges: bool, profile: str) -> None:
    config = create({"Image": "b", "HostConfig": {"SecurityOpt": options}})
    assert (config.no_new_privileges, config.seccomp_profile) == (no_new_privileges, profile)


def test_storage_opt_size_is_taken_and_others_refused() -> None:
    config = create({"Image": "b", "HostConfig": {"StorageOpt": {"size": "20G"}}})
    assert config.storage_opt == {"size": "20G"}
    assert "StorageOpt" in refused({"Image": "b", "HostConfig": {"StorageOpt": {"dm.x": "1"}}})


def test_userns_mode_host_is_taken() -> None:
    assert create({"Image": "b", "HostConfig": {"UsernsMode": "host"}}).userns_mode == "host"
    assert "UsernsMode" in refused({"Image": "b", "HostConfig": {"UsernsMode": "private"}})


def test_sharing_fields_become_the_models() -> None:
    config = create(
        {
            "Image": "b",
            "HostConfig": {
                "PidMode": "host",
                "IpcMode": "container:web",
                "UTSMode": "host",
                "CgroupnsMode": "private",
                "Devices": [
                    {"PathOnHost": "/dev/fuse", "PathInContainer": "", "CgroupPermissions": ""},
                    {
                        "PathOnHost": "/dev/null",
                        "PathInContainer": "/dev/n",
                        "CgroupPermissions": "r",
                    },
                ],
                "DeviceCgroupRules": ["c 1:3 rwm"],
                "ShmSize": 16 * 1024 * 1024,
                "GroupAdd": ["audio", "1234"],
                "ExtraHosts": ["db:10.0.0.2", "gw:host-gateway"],
                "Dns": ["10.0.0.53"],
                "DnsSearch": ["example.org"],
                "DnsOptions": ["ndots:2"],
                "MemorySwappiness": 30,
                "VolumesFrom": ["data:ro"],
                "Links": ["db:database"],
                "LogConfig": {"Type": "none"},
                "Isolation": "default",
            },
        }
    )
    assert (config.pid_mode, config.ipc_mode, config.uts_mode) == ("host", "container:web", "host")
    assert config.cgroupns_mode == "private"
    assert [(d.path_on_host, d.path_in_container, d.permissions) for d in config.devices] == [
        ("/dev/fuse", "", "rwm"),
        ("/dev/null", "/dev/n", "r"),
    ]
    assert config.device_cgroup_rules == ["c 1:3 rwm"] and config.shm_size == 16 * 1024 * 1024
    assert config.group_add == ["audio", "1234"]
    assert config.extra_hosts == ["db:10.0.0.2", "gw:host-gateway"]
    assert (config.dns, config.dns_search, config.dns_options) == (
        ["10.0.0.53"],
        ["example.org"],
        ["ndots:2"],
    )
    assert config.resources.memory_swappiness == 30
    assert (config.volumes_from, config.links, config.log_driver) == (
        ["data:ro"],
        ["db:database"],
        "none",
    )


def test_what_the_docker_cli_sends_when_no_flag_is_used_changes_nothing() -> None:
    config = create(
        {
            "Image": "b",
            "HostConfig": {
                "MemorySwappiness": -1,
                "ShmSize": 0,
                "IpcMode": "",
                "CgroupnsMode": "",
                "Devices": [],
                "DeviceRequests": None,
                "Isolation": "",
            },
        }
    )
    assert config.resources.memory_swappiness is None and config.shm_size == 0


def test_update_still_refuses_what_only_create_takes() -> None:
    from pouch.daemon.translate import to_resources

    for body in ({"MemorySwappiness": 10}, {"Devices": [{"PathOnHost": "/dev/null"}]}):
        with pytest.raises(InvalidArgument, match="is not supported"):
            to_resources(msgspec.convert(body, dt.ContainerUpdate))


def test_healthchecks_are_translated_and_bad_ones_refused_naming_the_field() -> None:
    from pouch.models import Healthcheck

    config = create(
        {
            "Image": "busybox",
            "Healthcheck": {
                "Test": ["CMD-SHELL", "test -f /tmp/ok"],
                "Interval": 1_000_000_000,
                "Timeout": None,  # docker-py and compose send null for what is not set
                "StartPeriod": 0,
                "Retries": 2,
            },
        }
    )
    expected = Healthcheck(test=["CMD-SHELL", "test -f /tmp/ok"], interval=10**9, retries=2)
    assert config.healthcheck == expected
    assert create({"Image": "b", "Healthcheck": {"Test": ["NONE"]}}).healthcheck.disabled
    assert create({"Image": "b"}).healthcheck is None
    assert create({"Image": "b", "Healthcheck": {"Retries": 4}}).healthcheck.test == []
    bad = [
        ({"Test": ["CMD", "true"], "Interval": -1}, "Healthcheck.Interval cannot be negative"),
        ({"Test": ["CMD", "true"], "Interval": 500_000}, "Healthcheck.Interval cannot be less"),
        ({"Test": ["CMD", "true"], "Timeout": 10}, "Healthcheck.Timeout cannot be less than 1ms"),
        ({"Test": ["CMD", "true"], "StartPeriod": -1}, "Healthcheck.StartPeriod cannot be"),
        ({"Test": ["CMD", "true"], "StartInterval": 3}, "Healthcheck.StartInterval cannot be"),
        ({"Test": ["CMD", "true"], "Retries": -3}, "Healthcheck.Retries cannot be negative"),
        ({"Test": ["HTTP", "/"]}, "Healthcheck.Test must start with CMD, CMD-SHELL or NONE"),
        ({"Test": ["CMD-SHELL"]}, "Healthcheck.Test CMD-SHELL needs a command"),
        ({"Test": "true"}, "$.Healthcheck.Test"),
        ({"Interval": "1s"}, "$.Healthcheck.Interval"),
    ]
    for check, words in bad:
        assert words in refused({"Image": "busybox", "Healthcheck": check}), check
