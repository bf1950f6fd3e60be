"""What the CLI does without a daemon: help, usage errors, and "cannot connect"."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pouch.cli._args_groups import CONTAINER_NAMES, IMAGE_NAMES
from pouch.cli._parser import build_parser
from pouch.cli.main import main

NOWHERE = "unix:///nonexistent/pouchd.sock"
CANNOT = (
    "Error: Cannot connect to pouchd at unix:///nonexistent/pouchd.sock: is pouchd running? "
    "(start it with `pouchd`)\n"
)


def all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from all_parsers(sub)


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_and_flag_has_help() -> None:
    parsers = list(all_parsers(build_parser()))
    assert len(parsers) > 40
    for parser in parsers:
        assert parser.description, f"{parser.prog} has no description"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{parser.prog} {action.option_strings or action.dest}: no help"


@pytest.mark.parametrize(
    "command",
    ["run", "create", "ps", "logs", "exec", "inspect", "stats", "pull", "images", "events"],
)
def test_help_shows_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: pouch {command}")
    assert "Examples:" in out


def test_version_needs_no_daemon(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == "pouch version 0.1.0\n"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "Run 'pouch COMMAND --help'" in capsys.readouterr().out
    assert main(["network"]) == 0
    assert "pouch network" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "Error: 'frobnicate' is not a pouch command\nSee 'pouch --help'.\n"),
        (["ps", "--bogus"], "Error: unknown flag or argument: --bogus\nSee 'pouch ps --help'.\n"),
        (["stop"], "Error: the following arguments are required: CONTAINER\n"),
        (["run", "--pull", "sometimes", "busybox"], "Error: argument --pull: invalid choice"),
    ],
)
def test_usage_errors_exit_125(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 125
    assert capsys.readouterr().err.startswith(message)


def test_flag_values_are_checked_before_connecting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-H", NOWHERE, "run", "-p", "99999:80", "busybox"]) == 125
    assert "invalid host port '99999'" in capsys.readouterr().err
    assert main(["-H", NOWHERE, "run", "--rm", "--restart", "always", "busybox"]) == 125
    assert "conflicting options: --restart and --rm" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "status"),
    [(["ps"], 1), (["images"], 1), (["rm", "x"], 1), (["run", "busybox"], 125), (["info"], 1)],
)
def test_cannot_connect(argv: list[str], status: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-H", NOWHERE, *argv]) == status
    captured = capsys.readouterr()
    assert captured.err == CANNOT
    assert captured.out == ""


def test_pouch_host_selects_the_daemon(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POUCH_HOST", "unix:///elsewhere/p.sock")
    assert main(["ps"]) == 1
    assert "unix:///elsewhere/p.sock" in capsys.readouterr().err
    assert main(["-H", "http://x", "ps"]) == 1
    assert "invalid host 'http://x'" in capsys.readouterr().err


def test_tcp_refused_is_the_same_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-H", "tcp://127.0.0.1:1", "version"]) == 1
    captured = capsys.readouterr()
    assert "Client:\n Version:           0.1.0" in captured.out
    assert "Cannot connect to pouchd at tcp://127.0.0.1:1" in captured.err


def test_save_refuses_a_terminal() -> None:
    # A pty as stdout: the tarball would land on the screen.
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(sys.executable, [sys.executable, "-m", "pouch", "-H", NOWHERE, "save", "x"])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert b"cowardly refusing to save to a terminal" in output


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pouch", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout == "pouch version 0.1.0\n"


def test_each_command_is_built_alone_as_in_the_full_parser() -> None:
    from pouch.cli._parser import _ARGUMENT_MODULES

    full = _commands(build_parser())
    assert set(full) == set().union(*_ARGUMENT_MODULES.values())
    for name, parser in full.items():
        alone = _commands(build_parser(only=name))
        assert list(alone) == [name]
        assert alone[name].format_help() == parser.format_help()


def test_an_unknown_command_runs_the_pouch_program_of_that_name(tmp_path: Path) -> None:
    program = tmp_path / "pouch-hello"
    program.write_text('#!/bin/sh\necho "args: $* host: $POUCH_HOST"\n')
    program.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    env.pop("POUCH_HOST", None)
    argv = [sys.executable, "-m", "pouch", "-H", "unix:///x.sock", "hello", "a", "--b"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "args: a --b host: unix:///x.sock\n")
    missing = subprocess.run(
        [sys.executable, "-m", "pouch", "nosuchcommand"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 125
    assert "'nosuchcommand' is not a pouch command" in missing.stderr


def _flags(parser: argparse.ArgumentParser) -> list[tuple[object, ...]]:
    return [
        (tuple(a.option_strings), a.dest, a.nargs, a.default, a.choices, a.help)
        for a in parser._actions
    ]


GROUPS = [("image", IMAGE_NAMES), ("container", CONTAINER_NAMES)]


@pytest.mark.parametrize(("name", "renames"), GROUPS)
def test_a_group_subcommand_is_its_top_level_command(
    name: str, renames: dict[str, tuple[str, ...]]
) -> None:
    top = _commands(build_parser())
    group = _commands(top[name])
    for original, (new, *aliases) in renames.items():
        assert all(group[alias] is group[new] for alias in aliases)
        assert _flags(group[new]) == _flags(top[original]), f"{name} {new} vs {original}"
        assert group[new].get_default("handler") == top[original].get_default("handler")
    assert set(group) - {n for names in renames.values() for n in names} == {"inspect", "prune"}


@pytest.mark.parametrize(("name", "renames"), GROUPS)
def test_each_group_subcommand_is_built_alone_as_in_the_full_parser(
    name: str, renames: dict[str, tuple[str, ...]]
) -> None:
    full = _commands(_commands(build_parser())[name])
    for word in full:
        alone = _commands(_commands(build_parser(only=name, then=word))[name])
        assert set(alone) == {w for w, p in full.items() if p is full[word]}
        assert alone[word].format_help() == full[word].format_help()


def test_a_group_subcommand_shows_its_other_names_and_its_own_examples(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["image", "ls", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: pouch image ls ")
    assert "Aliases: pouch image ls, pouch image list, pouch images\n" in out
    assert "  pouch image ls -q\n" in out and "pouch images -q" not in out
    with pytest.raises(SystemExit):
        main(["container", "rm", "--help"])
    assert "  pouch container rm -f web\n" in capsys.readouterr().out


def test_the_top_level_help_lists_each_group_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines if line.split()[:1] in (["image"], ["container"])] == [
        ["image", "Manage", "images"],
        ["container", "Manage", "containers"],
    ]


def test_a_groups_inspect_looks_for_its_kind_only() -> None:
    parser = build_parser()
    image = parser.parse_args(["image", "inspect", "busybox"])
    assert (image.type, image.handler) == ("image", "pouch.cli._inspect:inspect")
    assert parser.parse_args(["container", "inspect", "-s", "web"]).type == "container"
    assert main(["image", "inspect", "--type", "volume", "x"]) == 125


def test_an_unknown_group_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "frob"]) == 125
    assert capsys.readouterr().err == (
        "Error: 'frob' is not a pouch image command\nSee 'pouch image --help'.\n"
    )
    assert main(["image"]) == 0
    assert "prune" in capsys.readouterr().out
