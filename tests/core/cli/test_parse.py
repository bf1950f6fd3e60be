"""The flag parsers: docker's syntax in, the Docker Engine API's values out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pouch.cli._errors import UsageError
from pouch.cli._parse import (
    parse_cpus,
    parse_detach_keys,
    parse_filters,
    parse_kv,
    parse_memory_swap,
    parse_ports,
    parse_restart,
    parse_size,
    parse_ulimit,
    parse_volume,
    read_env_file,
    resolve_env,
)
from pouch.cli._parse_time import parse_timestamp


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("512", 512),
        ("1b", 1),
        ("4k", 4096),
        ("64m", 64 << 20),
        ("64MB", 64 << 20),
        ("1g", 1 << 30),
        ("1.5G", 3 << 29),
        ("2gib", 2 << 30),
        ("1t", 1 << 40),
    ],
)
def test_memory_sizes_use_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "m", "12x", "-1m", "1.2.3g", "ten"])
def test_bad_memory_sizes_name_the_value(text: str) -> None:
    with pytest.raises(UsageError, match="invalid size"):
        parse_size(text)


def test_memory_swap_allows_unlimited() -> None:
    assert parse_memory_swap("-1") == -1
    assert parse_memory_swap("1g") == 1 << 30


def test_cpus_become_nano_cpus() -> None:
    assert parse_cpus("1.5") == 1_500_000_000
    assert parse_cpus("0.25") == 250_000_000
    for bad in ("0", "-1", "many"):
        with pytest.raises(UsageError):
            parse_cpus(bad)


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("no", {"Name": "no", "MaximumRetryCount": 0}),
        ("always", {"Name": "always", "MaximumRetryCount": 0}),
        ("unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
        ("on-failure", {"Name": "on-failure", "MaximumRetryCount": 0}),
        ("on-failure:3", {"Name": "on-failure", "MaximumRetryCount": 3}),
    ],
)
def test_restart_policies(text: str, policy: dict[str, object]) -> None:
    assert parse_restart(text) == policy


@pytest.mark.parametrize("text", ["sometimes", "always:3", "on-failure:x", "on-failure:-1"])
def test_bad_restart_policies(text: str) -> None:
    with pytest.raises(UsageError, match="restart policy"):
        parse_restart(text)


def test_ports_forms() -> None:
    exposed, bindings = parse_ports(
        ["8080:80", "127.0.0.1:5353:53/udp", "9000", "[::1]:8443:443", "10.0.0.1::22"]
    )
    assert set(exposed) == {"80/tcp", "53/udp", "9000/tcp", "443/tcp", "22/tcp"}
    assert bindings["80/tcp"] == [{"HostIp": "", "HostPort": "8080"}]
    assert bindings["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "5353"}]
    assert bindings["9000/tcp"] == [{"HostIp": "", "HostPort": ""}]
    assert bindings["443/tcp"] == [{"HostIp": "::1", "HostPort": "8443"}]
    assert bindings["22/tcp"] == [{"HostIp": "10.0.0.1", "HostPort": ""}]


def test_port_ranges() -> None:
    _, bindings = parse_ports(["8000-8002:9000-9002"])
    assert bindings == {
        "9000/tcp": [{"HostIp": "", "HostPort": "8000"}],
        "9001/tcp": [{"HostIp": "", "HostPort": "8001"}],
        "9002/tcp": [{"HostIp": "", "HostPort": "8002"}],
    }
    _, bindings = parse_ports(["8000-8010:80"])
    assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": "8000-8010"}]}


def test_same_port_published_twice_keeps_both() -> None:
    _, bindings = parse_ports(["8080:80", "8081:80"])
    assert [b["HostPort"] for b in bindings["80/tcp"]] == ["8080", "8081"]


@pytest.mark.parametrize(
    "spec",
    ["", "80/icmp", "0:80", "8080:70000", "a:b", "1:2:3:4", "8000-8001:9000-9005", "[::1:80"],
)
def test_bad_ports(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_ports([spec])


def test_volumes() -> None:
    assert parse_volume("/srv/data:/data") == ("/srv/data:/data", "/data")
    assert parse_volume("/srv/data:/data:ro") == ("/srv/data:/data:ro", "/data")
    assert parse_volume("cache:/cache:rw,z") == ("cache:/cache:rw,z", "/cache")
    assert parse_volume("/scratch") == (None, "/scratch")


def test_relative_volume_sources_become_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/tmp")
    assert parse_volume("./x:/x") == ("/tmp/x:/x", "/x")


@pytest.mark.parametrize(
    "spec", ["relative", "/a:relative", "/a:/b:bogus", "/a:/b:ro,rw", "a b:/x", "/a:/b:ro:x", ":/b"]
)
def test_bad_volumes(spec: str) -> None:
    with pytest.raises(UsageError, match="invalid volume"):
        parse_volume(spec)


def test_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_SHELL", "shell value")
    monkeypatch.delenv("UNSET_ONE", raising=False)
    env = tmp_path / "app.env"
    env.write_text(
        '# a comment\n\nA=1\n  B=two words\nQUOTED="kept"\nEMPTY=\nFROM_SHELL\nUNSET_ONE\n'
    )
    assert read_env_file(str(env)) == [
        "A=1",
        "B=two words",
        'QUOTED="kept"',
        "EMPTY=",
        "FROM_SHELL=shell value",
    ]


def test_env_file_errors_name_the_line(tmp_path: Path) -> None:
    env = tmp_path / "bad.env"
    env.write_text("OK=1\nBAD NAME=2\n")
    with pytest.raises(UsageError, match=r"bad.env:2"):
        read_env_file(str(env))
    with pytest.raises(UsageError, match="cannot read env file"):
        read_env_file(str(tmp_path / "missing.env"))


def test_env_flags_copy_from_the_shell() -> None:
    assert resolve_env(["A=1", "HOME", "NOPE"], {"HOME": "/root"}) == ["A=1", "HOME=/root"]
    with pytest.raises(UsageError):
        resolve_env(["=x"], {})


def test_key_values() -> None:
    assert parse_kv(["a=1", "b=x=y"], "--label") == {"a": "1", "b": "x=y"}
    assert parse_kv(["flag"], "--label", need_value=False) == {"flag": ""}
    with pytest.raises(UsageError, match="--sysctl"):
        parse_kv(["net.ipv4.ip_forward"], "--sysctl")


def test_ulimits() -> None:
    assert parse_ulimit("nofile=1024:2048") == {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    assert parse_ulimit("nproc=64") == {"Name": "nproc", "Soft": 64, "Hard": 64}
    for bad in ("nofile", "nofile=x", "=1"):
        with pytest.raises(UsageError):
            parse_ulimit(bad)


def test_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-x,x") == b"\x18x"
    assert parse_detach_keys("ctrl-@,ctrl-[") == b"\x00\x1b"
    for bad in ("ctrl-", "ctrl-1", "ab"):
        with pytest.raises(UsageError):
            parse_detach_keys(bad)


def test_filters_are_docker_json() -> None:
    assert parse_filters([]) is None
    text = parse_filters(["status=exited", "label=a=b", "status=created"])
    assert text is not None
    assert json.loads(text) == {
        "status": {"exited": True, "created": True},
        "label": {"a=b": True},
    }
    with pytest.raises(UsageError):
        parse_filters(["status"])


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", NOW - 600),
        ("1h30m", NOW - 5400),
        ("90s", NOW - 90),
        ("1.5h", NOW - 5400),
        ("0s", NOW),
        ("2023-11-14T22:13:20Z", NOW),
        ("2023-11-14T23:13:20+01:00", NOW),
        ("2023-11-14T22:13:20.5Z", NOW + 0.5),
    ],
)
def test_since_and_until(text: str, expected: float) -> None:
    assert float(parse_timestamp(text, now=NOW)) == pytest.approx(expected, abs=1e-6)


def test_unix_timestamps_pass_through() -> None:
    assert parse_timestamp("1700000000") == "1700000000.000000000"
    assert parse_timestamp("1700000000.25") == "1700000000.250000000"


def test_local_dates_without_a_zone_are_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    try:
        assert float(parse_timestamp("2023-11-14")) == 1699920000.0
    finally:
        monkeypatch.undo()
        time.tzset()


def test_bad_times() -> None:
    with pytest.raises(UsageError, match="RFC 3339"):
        parse_timestamp("yesterday")


def test_storage_opt_and_pouchcontainers_disk_quota() -> None:
    from pouch.cli._create import storage_opt

    assert storage_opt(["size=20m"], []) == {"size": "20m"}
    assert storage_opt([], ["10g"]) == {"size": "10g"}
    assert storage_opt([], ["/=10g"]) == storage_opt([], [".*=10g"]) == {"size": "10g"}
    with pytest.raises(UsageError, match="volume with --opt size"):
        storage_opt([], ["/data=1g"])


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [("0", 0), ("1s", 10**9), ("500ms", 5 * 10**8), ("1m30s", 90 * 10**9), ("1.5s", 15 * 10**8)],
)
def test_parse_duration(text: str, nanoseconds: int) -> None:
    from pouch.cli._parse import parse_duration

    assert parse_duration(text, "--health-interval") == nanoseconds


@pytest.mark.parametrize("text", ["", "10", "-1s", "1x", "s"])
def test_parse_duration_refuses_nonsense(text: str) -> None:
    from pouch.cli._parse import parse_duration

    with pytest.raises(UsageError, match="--health-interval"):
        parse_duration(text, "--health-interval")


def test_health_flags_become_the_healthcheck_body() -> None:
    from pouch.cli._create import build_create
    from pouch.cli._parser import build_parser

    def body(*flags: str) -> object:
        args = build_parser(only="run").parse_args(["run", *flags, "busybox"])
        return build_create(args, attach=False)[1].get("Healthcheck")

    assert body() is None
    assert body("--no-healthcheck") == {"Test": ["NONE"]}
    assert body("--health-cmd", "test -f /ok", "--health-interval", "2s") == {
        "Test": ["CMD-SHELL", "test -f /ok"],
        "Interval": 2 * 10**9,
        "Timeout": 0,
        "StartPeriod": 0,
        "StartInterval": 0,
        "Retries": 0,
    }
    only_retries = body("--health-retries", "5", "--health-start-period", "1m")
    assert only_retries == {
        "Test": [],
        "Interval": 0,
        "Timeout": 0,
        "StartPeriod": 60 * 10**9,
        "StartInterval": 0,
        "Retries": 5,
    }
    with pytest.raises(UsageError, match="conflicts"):
        body("--no-healthcheck", "--health-cmd", "true")
    with pytest.raises(UsageError, match="negative"):
        body("--health-retries", "-1")
