"""Rich containers and hook files through pouchd: the API's fields, the docker CLI's labels,
a malformed hook file at daemon start. What each runtime does with them is the
conformance kit's (``pouch.testing._rich_tests``)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pouch.testing.daemon import (
    PouchDaemon,
    import_busybox_api,
    preferred_runtime,
    running_pouchd,
)
from pouch.testing.images import busybox_layer

_INITTAB = b"::respawn:/bin/sleep 1001\n::shutdown:/bin/sh -c 'echo bye > /record/shutdown'\n"


def _create(api: PouchDaemon, image: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    body = {"Image": image, "Cmd": ["true"], **fields}
    status, _, data = api.request("POST", "/containers/create", json.dumps(body).encode())
    return status, json.loads(data or b"{}")


def test_the_api_takes_pouchcontainers_fields_and_the_labels(
    api: PouchDaemon, api_busybox: str
) -> None:
    status, made = _create(api, api_busybox, Rich=True)
    assert status == 201, made
    config = api.json("GET", f"/containers/{made['Id']}/json")["Config"]
    assert (config["Rich"], config["RichMode"], config["InitScript"]) == (True, "dumb-init", "")
    labels = {"io.pouch.rich-mode": "sbin-init"}
    status, made = _create(api, api_busybox, Cmd=None, Labels=labels)
    assert status == 201, made
    config = api.json("GET", f"/containers/{made['Id']}/json")["Config"]
    assert (config["Rich"], config["RichMode"], config["StopSignal"]) == (
        True,
        "sbin-init",
        "SIGUSR2",
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"InitScript": "/init.sh"}, "InitScript needs Rich"),
        ({"Rich": True, "RichMode": "vm"}, "RichMode"),
        ({"Rich": True, "InitScript": "init.sh"}, "InitScript"),
        ({"Rich": True, "HostConfig": {"Init": True}}, "init and rich conflict"),
        ({"Rich": True, "RichMode": "systemd"}, "make your command a unit"),
        # The host-process test runtime runs no OCI hooks.
        ({"Rich": True, "InitScript": "/init.sh"}, "cannot run an initscript"),
        ({"Rich": True, "RichMode": "sbin-init"}, "cannot run the command of a sbin-init"),
    ],
)
def test_bad_rich_settings_are_a_400_naming_the_field(
    api: PouchDaemon, api_busybox: str, fields: dict[str, Any], named: str
) -> None:
    status, answer = _create(api, api_busybox, **fields)
    assert status == 400, answer
    assert named in answer["message"], answer


@pytest.fixture
def pouch_runtime() -> str:
    runtime, why = preferred_runtime()
    if runtime == "process":
        pytest.skip(why)
    return runtime


@pytest.mark.root
def test_the_docker_cli_asks_with_labels(
    pouchd: PouchDaemon, docker_cli: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    docker, env = docker_cli
    record = tmp_path / "record"
    record.mkdir()
    layer = busybox_layer().dir("sbin").symlink("sbin/init", "/bin/busybox")
    layer.dir("record").file("etc/inittab", _INITTAB)
    layer.write(tmp_path / "rich.tar")
    import_busybox_api(pouchd, tmp_path / "rich.tar", "rich-busybox:latest")

    def run(*args: str) -> str:
        done = subprocess.run(
            [docker, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    name = "rich-by-label"
    run(
        "run", "-d", "--name", name, "--label", "io.pouch.rich-mode=sbin-init",
        "-v", f"{record}:/record", "rich-busybox",
    )  # fmt: skip
    try:
        for _ in range(100):
            table = run("exec", name, "ps", "-o", "pid,args")
            if "/bin/sleep 1001" in table:
                break
            time.sleep(0.1)
        assert "1 init" in table and "/bin/sleep 1001" in table, table
        run("stop", "-t", "30", name)
        assert (
            run("inspect", "-f", "{{.State.ExitCode}} {{.Config.StopSignal}}", name).split()[1]
            == "SIGUSR2"
        )
        assert (record / "shutdown").read_text() == "bye\n"
    finally:
        subprocess.run([docker, "rm", "-f", name], env=env, capture_output=True, timeout=60)


def test_a_malformed_hook_file_is_reported_and_skipped_at_start(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.d"
    hooks.mkdir()
    (hooks / "bad.json").write_text('{"version": "1.0.0", "hook": {"path": "/bin/true"}}')
    (hooks / "worse.json").write_text("{not json")
    (hooks / "relative.json").write_text(
        json.dumps(
            {
                "version": "1.0.0",
                "hook": {"path": "true"},
                "when": {"always": True},
                "stages": ["prestart"],
            }
        )
    )
    (hooks / "good.json").write_text(
        json.dumps(
            {
                "version": "1.0.0",
                "hook": {"path": "/bin/true"},
                "when": {"always": True},
                "stages": ["poststop"],
            }
        )
    )
    with running_pouchd(tmp_path / "pouchd", settings={"hooks_dirs": [str(hooks)]}) as daemon:
        log = daemon.log()
    assert f"hooks: skipped {hooks / 'bad.json'}: Object missing required field `when`" in log
    assert f"hooks: skipped {hooks / 'worse.json'}:" in log
    assert f"hooks: skipped {hooks / 'relative.json'}: hook.path 'true' must be an absolute" in log
    assert "hooks: 1 loaded (good.json)" in log
