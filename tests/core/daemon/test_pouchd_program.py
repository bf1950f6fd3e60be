"""The pouchd program: settings, where it listens and what it refuses."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pouch import cgroups
from pouch.daemon.main import load_settings, parse_args
from pouch.errors import InvalidArgument
from pouch.testing.daemon import PouchDaemon, running_pouchd


def pouchd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pouch.daemon.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextlib.contextmanager
def _launched(root: Path, run_root: Path, host: str, *flags: str) -> Iterator[PouchDaemon]:
    """pouchd (process runtime) started with flags only; stopped by SIGTERM, exit 0 checked."""
    daemon = PouchDaemon(root=root, run_root=run_root, config_path=root / "x",
                         runtime="process", log_path=root / "log")  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "pouch.testing._pouchd_launcher", "--root", str(root),
         "--run-root", str(run_root), "-H", host, *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not daemon.answers():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        yield daemon
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_flags_override_the_file_over_the_defaults(tmp_path: Path) -> None:
    config = tmp_path / "pouchd.toml"
    config.write_text(
        'root = "/srv/pouch"\ndefault_runtime = "crun"\n[daemon]\nlog_level = "debug"\n'
        'hosts = ["unix:///tmp/a.sock"]\n'
    )
    settings, engine = load_settings(parse_args(["--config", str(config), "--run-root", "/tmp/r"]))
    assert settings.log_level == "debug" and settings.hosts == ["unix:///tmp/a.sock"]
    assert str(engine.root) == "/srv/pouch" and str(engine.run_root) == "/tmp/r"
    assert engine.default_runtime == "crun"
    settings, _ = load_settings(parse_args(["--config", str(config), "-H", "unix:///tmp/b.sock"]))
    assert settings.hosts == ["unix:///tmp/b.sock"]
    defaults, engine = load_settings(parse_args([]))
    assert (
        defaults.hosts == ["unix:///run/pouch/pouchd.sock"] and str(engine.root) == "/var/lib/pouch"
    )


def test_bad_settings_are_reported(tmp_path: Path) -> None:
    config = tmp_path / "pouchd.toml"
    config.write_text("[daemon]\nhsots = []\n")
    with pytest.raises(InvalidArgument, match="hsots"):
        load_settings(parse_args(["--config", str(config)]))
    done = pouchd("--config", str(config))
    assert done.returncode == 2 and "hsots" in done.stderr
    done = pouchd("--config", str(tmp_path / "missing.toml"))
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_plain_tcp_is_refused(tmp_path: Path) -> None:
    done = pouchd("--root", str(tmp_path / "r"), "--run-root", str(tmp_path / "run"),
                  "-H", "tcp://127.0.0.1:2376")  # fmt: skip
    assert done.returncode == 1 and "without TLS client verification" in done.stderr


def test_the_socket_is_private_and_stale_ones_are_replaced(tmp_path: Path) -> None:
    with running_pouchd(tmp_path / "first") as daemon:
        mode = daemon.socket.stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
        # A second daemon on the same socket is refused, and the first one is unharmed.
        done = pouchd("--root", str(tmp_path / "second"), "--run-root", str(tmp_path / "run2"),
                      "-H", daemon.host)  # fmt: skip
        assert done.returncode == 1 and "already serving" in done.stderr
        assert daemon.answers()
        socket_path = daemon.socket
    assert not socket_path.exists()  # removed at a clean exit


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    with running_pouchd(tmp_path / "d") as daemon:
        run_root, host = daemon.run_root, daemon.host
    # Leave a socket file nobody listens on where the next daemon wants to listen.
    run_root.mkdir(parents=True, exist_ok=True)
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(host[len("unix://") :])
    leftover.close()
    assert Path(host[len("unix://") :]).exists()
    with _launched(tmp_path / "d2", run_root, host):
        pass
    shutil.rmtree(run_root, ignore_errors=True)


def test_an_older_state_file_keeps_its_id_and_nothing_else(tmp_path: Path) -> None:
    # pouchd kept AutoRemove and network records there before the engine had them.
    state = tmp_path / "d" / "state" / "daemon" / "state.json"
    state.parent.mkdir(parents=True)
    old = {
        "id": "3f0c3b9e-5d7e-4c8e-9a51-0d1f7a4e2b6c",
        "auto_remove": ["ab" * 32],
        "networks": {"old": {"id": "cd" * 32, "name": "old", "driver": "bridge", "created": 1.0}},
    }
    state.write_text(json.dumps(old))
    with running_pouchd(tmp_path / "d") as daemon:
        assert daemon.json("GET", "/info")["ID"] == old["id"]
        assert "old" not in {n["Name"] for n in daemon.json("GET", "/networks")}


def test_the_cgroup_manager_is_a_setting_the_host_must_honour(tmp_path: Path) -> None:
    config = tmp_path / "pouchd.toml"
    config.write_text('cgroup_manager = "systemd"\n')
    _, engine = load_settings(parse_args(["--config", str(config)]))
    assert engine.cgroup_manager == "systemd"
    _, engine = load_settings(parse_args(["--cgroup-manager", "cgroupfs"]))
    assert engine.cgroup_manager == "cgroupfs"
    config.write_text('cgroup_manager = "upstart"\n')
    with pytest.raises(InvalidArgument, match="cgroup_manager"):
        load_settings(parse_args(["--config", str(config)]))
    if cgroups.systemd_booted():
        pytest.skip("systemd is this host's init: the systemd manager is allowed here")
    done = pouchd("--root", str(tmp_path / "r"), "--run-root", str(tmp_path / "run"),
                  "-H", f"unix://{tmp_path}/s.sock", "--cgroup-manager", "systemd")  # fmt: skip
    assert done.returncode == 2 and "cgroup_manager: systemd is not this host's init" in done.stderr


def test_a_trace_file_gets_a_line_of_json_per_span(tmp_path: Path) -> None:
    """``--trace-file``: each API request and engine step as it ends (bench/profile reads it)."""
    run_root = Path(tempfile.mkdtemp(prefix="pouchd-", dir="/tmp"))
    host = f"unix://{run_root}/pouchd.sock"
    spans = tmp_path / "spans.jsonl"
    try:
        with _launched(tmp_path / "d", run_root, host, "--trace-file", str(spans)) as daemon:
            status, _, _ = daemon.request("GET", "/v1.41/containers/json?all=1")
            assert status == 200
            status, _, _ = daemon.request("GET", "/v1.41/containers/nosuch/json")
            assert status == 404
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
    lines = [json.loads(line) for line in spans.read_text().splitlines()]
    by_name = {line["name"]: line for line in lines}
    listed = by_name["pouch.api.containers.list_containers"]
    assert listed["attributes"]["url.path"] == "/v1.41/containers/json"
    assert listed["parent"] is None and 0 < listed["start"] <= listed["end"]
    assert "pouch.engine.start" in by_name
    assert "pouch.api.containers.inspect" in by_name
