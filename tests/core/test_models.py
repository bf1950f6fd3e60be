"""ContainerConfig validation: bad input names the offending field."""

from __future__ import annotations

import msgspec
import pytest

from pouch.models import ContainerConfig, RestartPolicy, parse_signal


def decode(doc: dict[str, object]) -> ContainerConfig:
    return msgspec.convert(doc, ContainerConfig)


@pytest.mark.parametrize(
    ("doc", "path", "words"),
    [
        ({}, "$", "missing required field `image`"),
        ({"image": ""}, "$.image", "length >= 1"),
        ({"image": "b", "env": ["A=1", "=x"]}, "$", "env[1]"),
        ({"image": "b", "resources": {"memory": 1024}}, "$.resources.memory", ">= 6291456"),
        ({"image": "b", "resources": {"cpus": -1}}, "$.resources.cpus", "> 0"),
        ({"image": "b", "resources": {"cpuset_cpus": "0-a"}}, "$.resources", "cpuset_cpus"),
        ({"image": "b", "resources": {"memory_swap": 10**9}}, "$.resources", "memory_swap"),
        (
            {"image": "b", "ports": [{"container_port": 70000}]},
            "$.ports[0].container_port",
            "65535",
        ),
        (
            {"image": "b", "ports": [{"container_port": 80, "protocol": "icmp"}]},
            "$.ports[0].protocol",
            "Invalid enum value 'icmp'",
        ),
        ({"image": "b", "mounts": [{"target": "rel"}]}, "$.mounts[0]", "absolute"),
        ({"image": "b", "cap_add": ["CAP_FLY"]}, "$", "unknown capability"),
        ({"image": "b", "stop_signal": "SIGNOPE"}, "$", "unknown signal"),
        (
            {"image": "b", "restart_policy": {"name": "sometimes"}},
            "$.restart_policy.name",
            "'sometimes'",
        ),
        ({"image": "b", "bogus": 1}, "$", "unknown field `bogus`"),
        ({"image": "b", "working_dir": "tmp"}, "$", "working_dir"),
        (
            {"image": "b", "tmpfs": {"/a": ""}, "mounts": [{"target": "/a", "type": "tmpfs"}]},
            "$",
            "more than one mount at /a",
        ),
        ({"image": "b", "pid_mode": "shared"}, "$", "pid_mode 'shared'"),
        ({"image": "b", "ipc_mode": "container:"}, "$", "ipc_mode 'container:'"),
        ({"image": "b", "uts_mode": "private"}, "$", "uts_mode 'private'"),
        ({"image": "b", "uts_mode": "host", "hostname": "h"}, "$", "hostname and the uts_mode"),
        ({"image": "b", "cgroupns_mode": "shared"}, "$.cgroupns_mode", "'shared'"),
        ({"image": "b", "devices": [{"path_on_host": "null"}]}, "$.devices[0]", "absolute"),
        (
            {"image": "b", "devices": [{"path_on_host": "/dev/null", "permissions": "rx"}]},
            "$.devices[0]",
            "permissions 'rx'",
        ),
        ({"image": "b", "device_cgroup_rules": ["c 1:3"]}, "$", "device_cgroup_rules 'c 1:3'"),
        ({"image": "b", "shm_size": -1}, "$.shm_size", ">= 0"),
        ({"image": "b", "group_add": ["a:b"]}, "$", "group_add 'a:b'"),
        ({"image": "b", "extra_hosts": ["db"]}, "$", "extra_hosts 'db' is not NAME:IP"),
        ({"image": "b", "extra_hosts": ["db:10.0.0.300"]}, "$", "extra_hosts 'db:10.0.0.300'"),
        ({"image": "b", "dns": ["dns.example"]}, "$", "dns server 'dns.example'"),
        ({"image": "b", "dns_search": ["a b"]}, "$", "dns_search 'a b'"),
        ({"image": "b", "volumes_from": ["web:rx"]}, "$", "volumes_from 'web:rx'"),
        ({"image": "b", "links": ["web:a:b"]}, "$", "link 'web:a:b'"),
        ({"image": "b", "log_driver": "syslog"}, "$.log_driver", "'syslog'"),
        ({"image": "b", "log_options": {"path": "x.log"}}, "$", "log option path 'x.log'"),
        (
            {"image": "b", "log_driver": "none", "log_options": {"max-size": "1m"}},
            "$",
            "log driver none takes no log_options",
        ),
        (
            {"image": "b", "resources": {"memory_swappiness": 101}},
            "$.resources.memory_swappiness",
            "<= 100",
        ),
    ],
)
def test_invalid_config_names_the_field(doc: dict[str, object], path: str, words: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        decode(doc)
    message = str(caught.value)
    assert words in message
    if path == "$":  # top-level problems carry no path suffix
        assert " - at `" not in message
    else:
        assert message.endswith(f" - at `{path}`")


def test_valid_config_normalises_capabilities() -> None:
    config = decode({"image": "busybox", "cap_add": ["cap_net_admin"], "cap_drop": ["ALL"]})
    assert config.cap_add == ["NET_ADMIN"]
    assert config.cap_drop == ["ALL"]


def test_defaults_are_not_shared_between_configs() -> None:
    one, two = ContainerConfig(image="a"), ContainerConfig(image="b")
    one.env.append("X=1")
    one.resources.pids_limit = 5
    assert two.env == [] and two.resources.pids_limit is None


def test_restart_policy_parses_docker_syntax() -> None:
    assert RestartPolicy.parse("on-failure:3") == RestartPolicy(
        name="on-failure", maximum_retry_count=3
    )
    with pytest.raises(msgspec.ValidationError, match="only to the on-failure"):
        RestartPolicy.parse("always:2")
    with pytest.raises(ValueError, match="retry count"):
        RestartPolicy.parse("on-failure:x")


@pytest.mark.parametrize(("text", "number"), [("SIGTERM", 15), ("kill", 9), ("2", 2), (15, 15)])
def test_parse_signal(text: str | int, number: int) -> None:
    assert parse_signal(text) == number


def test_parse_signal_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_signal("99")


def test_sharing_settings_are_taken() -> None:
    config = decode(
        {
            "image": "b",
            "pid_mode": "host",
            "ipc_mode": "container:web",
            "uts_mode": "container:/web",
            "cgroupns_mode": "private",
            "devices": [{"path_on_host": "/dev/fuse"}],
            "device_cgroup_rules": ["c 1:3 rwm", "a *:* r", "b 8:* m"],
            "group_add": ["audio", "1234"],
            "extra_hosts": ["db:10.0.0.2", "gw:host-gateway", "v6:::1", "eq=10.0.0.3"],
            "dns": ["10.0.0.53", "fd00::53"],
            "volumes_from": ["data:ro", "other"],
            "links": ["db:database", "/cache"],
            "log_driver": "none",
            "resources": {"memory_swappiness": 0},
        }
    )
    assert config.devices[0].permissions == "rwm"
    assert config.resources.memory_swappiness == 0


def test_split_host_takes_both_docker_forms() -> None:
    from pouch.models import split_host

    assert split_host("db:10.0.0.2") == ("db", "10.0.0.2")
    assert split_host("v6:::1") == ("v6", "::1")
    assert split_host("v6:[fd00::1]") == ("v6", "fd00::1")
    assert split_host("eq=10.0.0.3") == ("eq", "10.0.0.3")


# -- healthchecks ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "words"),
    [
        ({"test": ["SOMETIMES", "x"]}, "test must start with CMD, CMD-SHELL or NONE"),
        ({"test": ["CMD"]}, "test CMD needs a command"),
        ({"test": ["CMD-SHELL", ""]}, "test CMD-SHELL needs a command"),
        ({"test": ["CMD", "true"], "interval": -1}, "interval cannot be negative"),
        ({"test": ["CMD", "true"], "interval": 999_999}, "interval cannot be less than 1ms"),
        ({"test": ["CMD", "true"], "timeout": 5}, "timeout cannot be less than 1ms"),
        ({"test": ["CMD", "true"], "start_period": -5}, "start_period cannot be negative"),
        ({"test": ["CMD", "true"], "start_interval": 1}, "start_interval cannot be less"),
        ({"test": ["CMD", "true"], "retries": -1}, "retries cannot be negative"),
        ({"test": ["CMD", "true"], "interval": "1s"}, "Expected `int`, got `str`"),
        ({"test": ["CMD", "true"], "every": 1}, "unknown field `every`"),
    ],
)
def test_a_bad_healthcheck_names_its_field(check: dict[str, object], words: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        decode({"image": "b", "healthcheck": check})
    assert words in str(info.value)
    assert "$.healthcheck" in str(info.value)


def test_a_healthcheck_runs_its_command_and_takes_the_images_defaults() -> None:
    from pouch.models import Healthcheck

    shell = Healthcheck(test=["CMD-SHELL", "curl -f localhost || exit 1"])
    assert shell.command() == ["/bin/sh", "-c", "curl -f localhost || exit 1"]
    assert Healthcheck(test=["CMD", "pg_isready", "-q"]).command() == ["pg_isready", "-q"]
    assert Healthcheck(test=["NONE"]).disabled and Healthcheck().disabled
    assert not shell.disabled
    minimum = decode({"image": "b", "healthcheck": {"test": ["CMD", "x"], "interval": 10**6}})
    assert minimum.healthcheck is not None and minimum.healthcheck.interval == 10**6
    image = Healthcheck(test=["CMD", "true"], interval=10**9, retries=5)
    mine = Healthcheck(interval=2 * 10**9)
    assert mine.merged(image) == Healthcheck(test=["CMD", "true"], interval=2 * 10**9, retries=5)
    assert Healthcheck(test=["NONE"]).merged(image).disabled
    assert mine.merged(None) is mine
