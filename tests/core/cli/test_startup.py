"""Start-up: the CLI is a client and must not load the engine or its libraries.

Users notice start-up time on every ``pouch ps``; these tests pin what a
command may import, in a fresh interpreter as ``python -m pouch`` runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pouch.cli as cli_package

SCRIPT = """
import json, runpy, sys
sys.argv = ["pouch", *json.loads(sys.argv[1])]
try:
    runpy.run_module("pouch", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
sys.stdout.flush()
sys.stderr.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
"""

COMMANDS = {
    "version": ["--version"],
    "help": ["--help"],
    "run-help": ["run", "--help"],
    "ps": ["-H", "unix:///nonexistent/pouchd.sock", "ps"],
    "container-ls": ["-H", "unix:///nonexistent/pouchd.sock", "container", "ls"],
    "run": ["-H", "unix:///nonexistent/pouchd.sock", "run", "--rm", "busybox", "true"],
}


def modules_loaded(argv: list[str], pythonpath: Path | None = None) -> set[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    marker = done.stderr.rpartition("MODULES=")[2]
    return set(json.loads(marker))


@pytest.fixture(scope="module")
def loaded() -> dict[str, set[str]]:
    return {name: modules_loaded(argv) for name, argv in COMMANDS.items()}


@pytest.fixture(scope="module")
def cli_alone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """What the CLI itself loads: ``pouch.cli`` under a ``pouch`` package with an empty
    ``__init__`` (the shape a lazy package namespace gives), whatever pouch/__init__ does."""
    root = tmp_path_factory.mktemp("stub")
    package = root / "pouch"
    package.mkdir()
    (package / "__init__.py").write_text('__version__ = "0.1.0"\n')
    real = Path(cli_package.__file__).parent
    (package / "cli").symlink_to(real)
    (package / "__main__.py").symlink_to(real.parent / "__main__.py")
    return {name: modules_loaded(argv, root) for name, argv in COMMANDS.items()}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    "module",
    [
        "pouch.engine",
        "pouch.kernel",
        "pouch.daemon",
        "anyio",
        "stevedore",
        "opentelemetry",
        "pluggy",
        "msgspec",
    ],
)
def test_cli_does_not_import_the_engine(
    loaded: dict[str, set[str]], command: str, module: str
) -> None:
    assert module not in loaded[command]


@pytest.mark.parametrize("command", ["version", "help", "run-help"])
def test_help_and_version_do_not_load_the_http_client(
    loaded: dict[str, set[str]], command: str
) -> None:
    assert not {"http.client", "ssl", "socket"} & loaded[command]


def test_ps_loads_no_http_client_email_or_typing(loaded: dict[str, set[str]]) -> None:
    """The CLI speaks HTTP itself (``pouch.cli._wire``): ``http.client`` would bring
    the ``email`` package, and ``typing`` is not needed at run time."""
    heavy = {"http.client", "email", "urllib", "typing", "platform", "socket", "ssl"}
    assert not {m.partition(".")[0] for m in loaded["ps"]} & {h.partition(".")[0] for h in heavy}
    assert not {"http.client", "email.parser"} & loaded["ps"]


BARE = """
import sys
sys.argv = ["pouch", *{argv!r}]
from pouch.cli.main import main
main()
sys.stderr.write("\\nMODULES=" + ",".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize("command", ["ps", "container-ls", "run"])
def test_everyday_commands_load_no_argparse_re_enum_or_json(command: str) -> None:
    """argparse, ``re`` and ``enum`` (which ``re``, ``json``, ``socket`` and
    ``signal`` bring) are most of a short command's imports: these parse with
    ``pouch.cli._fastparse`` and speak through ``_socket`` and ``_json``."""
    done = subprocess.run(
        [sys.executable, "-c", BARE.format(argv=COMMANDS[command])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    loaded = set(done.stderr.rpartition("MODULES=")[2].split(","))
    assert "pouch.cli.main" in loaded, done.stderr
    heavy = {"argparse", "re", "enum", "json", "socket", "signal", "selectors", "contextlib"}
    assert not heavy & loaded


def test_a_command_loads_only_its_own_module(loaded: dict[str, set[str]]) -> None:
    cli = {m for m in loaded["ps"] if m.startswith("pouch.cli.")}
    assert "pouch.cli._containers" in cli
    assert not {"pouch.cli._run", "pouch.cli._images", "pouch.cli._stats", "pouch.cli._tls"} & cli


def test_a_group_form_loads_what_the_top_level_command_does(loaded: dict[str, set[str]]) -> None:
    """``pouch container ls`` builds the parser of ``ls`` only, from the table of ``ps``."""
    assert {m for m in loaded["container-ls"] if m.startswith("pouch.cli")} == {
        m for m in loaded["ps"] if m.startswith("pouch.cli")
    }


def test_version_loads_only_the_entry_point(loaded: dict[str, set[str]]) -> None:
    cli = {m for m in loaded["version"] if m.startswith("pouch.cli")}
    assert cli == {"pouch.cli", "pouch.cli._errors", "pouch.cli.main"}
    assert "argparse" not in loaded["version"]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_cli_itself_loads_no_library_beyond_the_standard_one(
    cli_alone: dict[str, set[str]], command: str
) -> None:
    third_party = {m.partition(".")[0] for m in cli_alone[command]} & {
        "msgspec",
        "pluggy",
        "anyio",
        "stevedore",
        "opentelemetry",
        "typing_extensions",
        "h11",
    }
    assert not third_party
    assert not {
        m for m in cli_alone[command] if m.startswith("pouch.") and not m.startswith("pouch.cli")
    }
    # dataclasses pulls in inspect and ast; typing costs milliseconds too.
    assert not {"dataclasses", "inspect", "ast", "typing", "tomllib"} & cli_alone[command]
