"""``pouch`` against a real pouchd: what users see and the exit statuses scripts rely on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pouch.testing.daemon import preferred_runtime

from .conftest import Pouch

pytestmark = pytest.mark.slow

ID = re.compile(r"^[0-9a-f]{64}$")


def test_run_shows_output_and_exits_with_the_container_status(cli: Pouch) -> None:
    result = cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.status, result.out, result.err) == (3, "out\n", "err\n")
    assert cli.ok("ps", "-a", "-q") == ""  # --rm removed it


def test_run_detached_ps_logs_stop_rm(cli: Pouch) -> None:
    out = cli.ok(
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "-e",
        "GREETING=hi",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING from web; exec sleep 300",
    )
    assert ID.match(out.strip())
    short = out.strip()[:12]

    assert cli.ok("ps", "--format", '{{.ID}} {{.Names}} {{.State}} {{.Label "tier"}}') == (
        f"{short} web running front\n"
    )
    table = cli.ok("ps").splitlines()
    assert table[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert table[1].startswith(short) and table[1].endswith("web")
    row = json.loads(cli.ok("ps", "--format", "json"))
    assert row["Names"] == "web" and row["Image"] == "busybox" and row["Status"].startswith("Up")

    assert cli.eventually(lambda: cli.ok("logs", "web") == "hi from web\n")
    stamped = cli.ok("logs", "-t", "--tail", "1", "web")
    assert re.match(r"^\d{4}-\d\d-\d\dT\S+ hi from web\n$", stamped)
    assert cli.ok("logs", "--since", "10m", "web") == "hi from web\n"

    assert cli.ok("stop", "-t", "1", "web") == "web\n"
    assert cli.ok("ps", "-q") == ""
    assert cli.ok("ps", "-a", "-q", "--filter", "status=exited") == f"{short}\n"
    assert cli.ok("inspect", "-f", "{{.State.Status}} {{.Config.Labels.tier}}", "web") == (
        "exited front\n"
    )
    assert cli.ok("rm", "web") == "web\n"
    assert cli.ok("ps", "-a", "-q") == ""


def test_missing_container(cli: Pouch) -> None:
    for args in (
        ("rm", "nope"),
        ("logs", "nope"),
        ("stop", "nope"),
        ("inspect", "--type", "container", "nope"),
    ):
        result = cli(*args)
        assert result.status == 1, args
        assert result.err.startswith("Error: ") and "nope" in result.err, args
        assert "such container" in result.err.lower(), args
    result = cli("inspect", "nope")
    assert (result.status, result.out, result.err) == (1, "[]\n", "Error: No such object: nope\n")


def test_run_errors_exit_125(cli: Pouch) -> None:
    result = cli("run", "--pull", "never", "--rm", "no-such-image")
    assert result.status == 125
    assert result.err.startswith("Error: ") and "no-such-image" in result.err
    result = cli("run", "--rm", "--runtime", "kata9", "busybox", "true")
    assert result.status == 125
    assert "kata9" in result.err


def test_create_start_attach_wait(cli: Pouch) -> None:
    cid = cli.ok("create", "--name", "job", "busybox", "sh", "-c", "echo ran; exit 5").strip()
    assert ID.match(cid)
    assert cli.ok("ps", "-a", "--format", "{{.Names}} {{.State}}") == "job created\n"
    result = cli("start", "-a", "job")
    assert (result.status, result.out) == (5, "ran\n")
    assert cli.ok("wait", "job") == "5\n"
    assert cli.ok("rename", "job", "job2") == ""
    assert cli.ok("rm", "job2") == "job2\n"


def test_exec(cli: Pouch) -> None:
    cli.ok("run", "-d", "--name", "box", "busybox", "sleep", "300")
    result = cli("exec", "-e", "X=42", "-w", "/tmp", "box", "sh", "-c", "echo $X $(pwd); exit 4")
    assert (result.status, result.out) == (4, "42 /tmp\n")
    assert cli.ok("exec", "-d", "box", "touch", "/tmp/flag") == ""
    assert cli.eventually(lambda: cli("exec", "box", "test", "-e", "/tmp/flag").status == 0)
    assert "PID" in cli.ok("top", "box").splitlines()[0]
    stats = cli.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "box")
    assert stats.startswith("box ")
    cli.ok("pause", "box")
    assert cli.ok("inspect", "-f", "{{.State.Status}}", "box") == "paused\n"
    cli.ok("unpause", "box")
    cli.ok("rm", "-f", "box")


def test_images_inspect_save_load(cli: Pouch, tmp_path: Path) -> None:
    assert "busybox:latest" in cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert cli.ok("inspect", "--type", "image", "-f", "{{json .Config.Cmd}}", "busybox") == (
        '["sh"]\n'
    )
    image_id = cli.ok("images", "-q").strip()
    assert re.match(r"^[0-9a-f]{12}$", image_id)
    cli.ok("tag", "busybox", "example/bb:1")
    assert "example/bb:1" in cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
    archive = tmp_path / "bb.tar"
    cli.ok("save", "-o", str(archive), "example/bb:1")
    assert archive.stat().st_size > 100_000
    assert "Untagged: example/bb:1" in cli.ok("rmi", "example/bb:1")
    assert "Loaded image" in cli.ok("load", "-i", str(archive))
    assert "example/bb:1" in cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}")


def test_system_commands(cli: Pouch) -> None:
    assert "Server: pouchd" in cli.ok("version")
    assert cli.ok("version", "-f", "{{.Server.ApiVersion}}") == "1.41\n"
    info = cli.ok("info")
    assert "Pouch Plugins:" in info and "Server Version:" in info
    plugins = cli.ok("plugin", "ls").splitlines()
    assert plugins[0].split() == ["NAME", "STATE", "DETAILS"]
    runtime_plugin = {"process": "process", "runc": "runc"}[preferred_runtime()[0]]
    assert any(line.split()[:2] == [runtime_plugin, "loaded"] for line in plugins[1:])


def test_events_stream_as_they_happen(cli: Pouch) -> None:
    cli.ok("run", "--rm", "--name", "evt", "busybox", "true")
    fmt = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pouch",
            "events",
            "--since",
            "5m",
            "-f",
            "type=container",
            "--format",
            fmt,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=cli.env,
    )
    # The stream never ends by itself: stop the watcher if the events do not come.
    timer = threading.Timer(30, watcher.kill)
    timer.start()
    try:
        assert watcher.stdout is not None
        seen = [watcher.stdout.readline().strip() for _ in range(2)]
        assert seen == ["container create evt", "container start evt"]
    finally:
        timer.cancel()
        watcher.terminate()
        watcher.wait(timeout=10)


def test_events_until_ends_the_stream(cli: Pouch) -> None:
    cli.ok("run", "--rm", "--name", "evt", "busybox", "true")
    events = cli.ok("events", "--since", "5m", "--until", "0s", "--format", "{{.Action}}")
    assert "start" in events.splitlines()


def test_volumes_and_networks(cli: Pouch) -> None:
    assert cli.ok("volume", "create", "data") == "data\n"
    assert "data" in cli.ok("volume", "ls", "-q").split()
    assert cli.ok("volume", "inspect", "-f", "{{.Driver}}", "data") == "local\n"
    assert cli.ok("volume", "rm", "data") == "data\n"
    assert "none" in cli.ok("network", "ls", "--format", "{{.Name}}").split()


def test_stdin_is_piped_to_the_container(cli: Pouch, runtime_capabilities: set[str]) -> None:
    if "attach" not in runtime_capabilities:
        pytest.skip("the runtime under test cannot attach stdin")
    result = cli("run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z; exit 2", input="hi\n")
    assert (result.status, result.out) == (2, "HI\n")
    cli.ok("run", "-d", "--name", "cat", "busybox", "sleep", "300")
    assert cli.ok("exec", "-i", "cat", "cat", input="piped\n") == "piped\n"
    cli.ok("rm", "-f", "cat")


def test_security_opt_sends_a_profile_file(
    cli: Pouch, runtime_capabilities: set[str], tmp_path: Path
) -> None:
    if "seccomp" not in runtime_capabilities:
        pytest.skip("the runtime applies no seccomp filter")
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW",'
        ' "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
    )
    script = "grep Seccomp: /proc/self/status; mkdir /x 2>/dev/null || echo refused"
    out = cli.ok(
        "run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c", script
    )
    assert out.split() == ["Seccomp:", "2", "refused"]
    out = cli.ok(
        "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", script
    )
    assert out.split() == ["Seccomp:", "0"]
    missing = cli("run", "--rm", "--security-opt", f"seccomp={tmp_path}/none.json", "busybox")
    assert missing.status == 125 and "cannot read" in missing.err
    assert "seccomp" in cli.ok("info", "--format", "{{json .SecurityOptions}}")


def test_run_with_a_healthcheck(cli: Pouch) -> None:
    cli.ok(
        "run",
        "-d",
        "--name",
        "checked",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    )
    status = ("inspect", "-f", "{{.State.Health.Status}}", "checked")
    assert cli.eventually(lambda: cli.ok(*status) == "unhealthy\n")
    assert "(unhealthy)" in cli.ok("ps")
    cli.ok("exec", "checked", "touch", "/tmp/ok")
    assert cli.eventually(lambda: cli.ok(*status) == "healthy\n")
    assert cli.ok("ps", "--filter", "health=healthy", "--format", "{{.Names}}") == "checked\n"
    shown = json.loads(cli.ok("inspect", "checked"))[0]
    assert shown["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f /tmp/ok"]
    assert shown["State"]["Health"]["Log"][-1]["ExitCode"] == 0
    cli.ok("rm", "-f", "checked")
    cli.ok("run", "-d", "--name", "unchecked", "--no-healthcheck", "busybox", "sleep", "300")
    unchecked = json.loads(cli.ok("inspect", "unchecked"))[0]
    assert unchecked["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert "Health" not in unchecked["State"]
    cli.ok("rm", "-f", "unchecked")
