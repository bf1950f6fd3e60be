"""Hook files: which containers a hook applies to, and which files are refused and why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pouch import oci
from pouch.hookfiles import HookFileError, load_dirs, load_file


def _file(tmp_path: Path, name: str, when: dict[str, Any], **extra: Any) -> Path:
    path = tmp_path / name
    body = {
        "version": "1.0.0",
        "hook": {"path": "/bin/true"},
        "when": when,
        "stages": ["prestart"],
        **extra,
    }
    path.write_text(json.dumps(body))
    return path


def _spec(args: list[str], annotations: dict[str, str], bind: bool = False) -> oci.Spec:
    mounts = [oci.Mount(destination="/data", type="bind", source="/srv", options=["rbind"])]
    return oci.Spec(
        process=oci.Process(args=args, user=oci.User(uid=0, gid=0), cwd="/"),
        annotations=annotations,
        mounts=mounts if bind else [],
    )


def test_any_condition_is_enough(tmp_path: Path) -> None:
    hook = load_file(
        _file(
            tmp_path,
            "a.json",
            {"annotations": {"^com\\.example\\.": "^(yes|on)$"}, "commands": ["/nginx$"]},
        )
    )
    assert hook.matches(_spec(["/usr/sbin/nginx"], {}))
    assert hook.matches(_spec(["sh"], {"com.example.audit": "on"}))
    assert hook.matches(_spec(["sh"], {}), labels={"com.example.audit": "yes"})
    assert not hook.matches(_spec(["sh"], {"com.example.audit": "off"}))
    assert not hook.matches(_spec(["sh"], {}, bind=True))
    binds = load_file(_file(tmp_path, "b.json", {"hasBindMounts": True}))
    assert binds.matches(_spec(["sh"], {}, bind=True))
    assert not binds.matches(_spec(["sh"], {}))


@pytest.mark.parametrize(
    ("when", "extra", "said"),
    [
        ({}, {}, "when: no condition set"),
        ({"always": True}, {"stages": []}, "Expected `array` of length >= 1"),
        (
            {"always": True},
            {"stages": ["prerun"]},
            "Invalid enum value 'prerun' - at `$.stages[0]`",
        ),
        ({"commands": ["("]}, {}, "when.commands[0]: '(' is not a regular expression"),
        ({"always": True}, {"hook": {"path": "/nonexistent/hook"}}, "not an executable file"),
        ({"always": True}, {"hook": {"path": "/bin/true", "timeout": 0}}, "Expected `int` >= 1"),
        ({"always": True}, {"version": "2.0.0"}, "Invalid enum value '2.0.0'"),
        ({"always": True}, {"extra": 1}, "Object contains unknown field `extra`"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_field(
    tmp_path: Path, when: dict[str, Any], extra: dict[str, Any], said: str
) -> None:
    path = _file(tmp_path, "bad.json", when, **extra)
    with pytest.raises(HookFileError) as refused:
        load_file(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert said in str(refused.value)


def test_a_later_directory_replaces_a_file_of_the_same_name(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    _file(first, "10-audit.json", {"always": True})
    _file(first, "20-other.json", {"always": True})
    _file(second, "10-audit.json", {"commands": ["x"]})
    (second / "30-broken.json").write_text("{")
    loaded = load_dirs([first, second, tmp_path / "missing"])
    assert [Path(h.source) for h in loaded.hooks] == [
        second / "10-audit.json",
        first / "20-other.json",
    ]
    assert len(loaded.problems) == 1 and "30-broken.json" in loaded.problems[0]


def test_the_runner_gives_the_state_records_and_stops_a_slow_hook(tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.write_text('#!/bin/sh\necho "$0 $1 $(cat)"\n[ "$1" = slow ] && sleep 30\nexit 0\n')
    hook.chmod(0o755)
    record = tmp_path / "hooks.log"
    state = json.dumps({"id": "c1", "pid": 42, "bundle": str(tmp_path)}).encode()

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "pouch.hookrun", "run", str(record), "prestart", "1"]
        return subprocess.run([*command, str(hook), *args], input=state, capture_output=True)

    assert run("named-hook", "fast").returncode == 0
    slow = run("named-hook", "slow")
    assert slow.returncode == 1
    assert b"timed out after 1s" in slow.stderr
    first, second = (json.loads(line) for line in record.read_text().splitlines())
    assert first["exit_code"] == 0 and first["id"] == "c1"
    assert first["output"].endswith(" fast " + state.decode())
    assert second["timed_out"] and second["exit_code"] == -9
    # What failed is also left in the bundle for runtimes that keep hooks' words to themselves.
    assert "timed out" in (tmp_path / "hooks.failed").read_text()
