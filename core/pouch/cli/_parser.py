"""The argument parser: global options, and the command tables of the ``_args_*`` modules.

Each command names its handler as ``"module:function"``; ``main`` imports only
that module, after parsing, so ``pouch --help`` never loads the HTTP client.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from pouch.cli._errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    Sub = Any  # argparse's _SubParsersAction is private; typed loosely here

__all__ = [
    "Parser",
    "build_parser",
    "builtin",
    "command",
    "command_word",
    "flag_list",
    "format_flag",
    "group",
]

DESCRIPTION = """\
pouch: a docker-like client of pouchd, the pouch container engine.

It speaks the Docker Engine API (1.41, negotiated down to 1.24) to the daemon
at -H/--host, $POUCH_HOST or unix:///run/pouch/pouchd.sock."""

EPILOG = """\
Examples:
  pouch run --rm busybox echo hello
  pouch run -it busybox sh            (Ctrl-P Ctrl-Q detaches)
  pouch ps -a --format '{{.Names}}\\t{{.Status}}'
  POUCH_HOST=tcp://10.0.0.5:2376 pouch --tlsverify info

Run 'pouch COMMAND --help' for more about a command."""


class Parser(argparse.ArgumentParser):
    """Reports usage errors as ``UsageError`` (exit status 125, as docker) instead of exiting 2."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument COMMAND: invalid choice: "):
            word = message.split(": ", 2)[2].split(" (choose")[0]
            message = f"{word} is not a {self.prog} command"
        raise UsageError(f"{message}\nSee '{self.prog} --help'.")


class Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=min(100, _columns()))


def _columns() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 100


class _Skipped(Parser):
    """Stands in for a command that this run does not need: every call does nothing.

    ``pouch ps`` needs the parser of ``ps`` only; building the other forty
    commands' parsers would cost more than the rest of its start-up.
    """

    def __init__(self) -> None:  # no state: nothing is ever parsed with it
        pass

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def set_defaults(self, **kwargs: Any) -> None:
        return None


_SKIPPED = _Skipped()


class _SkippedGroup:
    """The subcommands of a group that is not needed: all of them are skipped."""

    only = "\0"


def _wanted(sub: Sub, name: str, aliases: Sequence[str] = ()) -> bool:
    only: str | None = getattr(sub, "only", None)
    return only is None or only == name or only in aliases


def command(
    sub: Sub,
    name: str,
    handler: str,
    summary: str,
    description: str = "",
    examples: Sequence[str] = (),
    **kwargs: Any,
) -> Parser:
    """Add one command with its one-line summary, longer description and examples."""
    if not _wanted(sub, name, kwargs.get("aliases", ())):
        return _SKIPPED
    epilog = ("Examples:\n" + "\n".join(f"  {e}" for e in examples)) if examples else None
    parser: Parser = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\n{description}".rstrip() if description else summary,
        epilog=epilog,
        formatter_class=Formatter,
        **kwargs,
    )
    parser.set_defaults(handler=handler, command_prog=parser.prog)
    return parser


def group(sub: Sub, name: str, summary: str, description: str = "") -> Sub:
    """A command with subcommands of its own (``network``, ``volume``, ``system``)."""
    if not _wanted(sub, name):
        return _SkippedGroup()
    parser = sub.add_parser(
        name, help=summary, description=description or summary, formatter_class=Formatter
    )
    parser.set_defaults(handler=None, group_parser=parser, command_prog=parser.prog)
    return parser.add_subparsers(title="commands", metavar="COMMAND")


def flag_list(parser: argparse.ArgumentParser, *names: str, help: str, metavar: str) -> None:
    """A repeatable flag collected into a list (``-e A=1 -e B=2``)."""
    parser.add_argument(*names, action="append", default=[], metavar=metavar, help=help)


def format_flag(parser: argparse.ArgumentParser, fields: str) -> None:
    parser.add_argument(
        "--format",
        metavar="TEMPLATE",
        help="print with a template: 'table' (default), 'json' (a JSON object a line), "
        f"or a template such as 'table {fields}'. A small subset of Go templates: fields, "
        "json, upper, lower, join, index, pipes; no range or if",
    )


# Which module defines which commands, so one command loads one table (kept in
# step with the modules by tests/core/cli/test_offline.py).
_ARGUMENT_MODULES: dict[str, frozenset[str]] = {
    "_args_run": frozenset({"run", "create", "start", "exec", "attach"}),
    "_args_containers": frozenset(
        {
            "stop",
            "restart",
            "kill",
            "rm",
            "pause",
            "unpause",
            "rename",
            "update",
            "wait",
            "ps",
            "logs",
            "top",
            "stats",
            "inspect",
        }
    ),
    "_args_images": frozenset(
        {
            "pull",
            "push",
            "login",
            "logout",
            "images",
            "rmi",
            "tag",
            "load",
            "save",
            "import",
            "build",
            "builder",
        }
    ),
    "_args_files": frozenset({"cp", "diff", "export", "commit", "history"}),
    "_args_system": frozenset(
        {"network", "volume", "system", "plugin", "info", "version", "events"}
    ),
}

_VALUED = frozenset({"-H", "--host", "--tlscacert", "--tlscert", "--tlskey", "--config"})


def builtin(word: str) -> bool:
    """Whether ``word`` is one of pouch's own commands (else maybe a ``pouch-WORD`` program)."""
    return any(word in commands for commands in _ARGUMENT_MODULES.values())


def command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, or None when there is none before a ``--help``."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif arg in ("-h", "--help"):
            return None
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(only: str | None = None) -> Parser:
    """The whole parser, or with ``only`` the parser of that one command (fast)."""
    parser = Parser(
        prog="pouch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    g = parser.add_argument_group("daemon connection")
    g.add_argument(
        "-H",
        "--host",
        metavar="URL",
        help="pouchd to talk to: unix:///path or tcp://HOST:PORT "
        "(default: $POUCH_HOST or unix:///run/pouch/pouchd.sock)",
    )
    g.add_argument("--tls", action="store_true", help="use TLS (implied by --tlsverify)")
    g.add_argument(
        "--tlsverify",
        action="store_true",
        default=bool(os.environ.get("POUCH_TLS_VERIFY")),
        help="use TLS and verify pouchd's certificate against --tlscacert ($POUCH_TLS_VERIFY)",
    )
    g.add_argument("--tlscacert", metavar="FILE", help="CA certificate (default: CERT_PATH/ca.pem)")
    g.add_argument("--tlscert", metavar="FILE", help="client certificate (CERT_PATH/cert.pem)")
    g.add_argument("--tlskey", metavar="FILE", help="client key (default: CERT_PATH/key.pem)")
    parser.add_argument(
        "--config",
        metavar="DIR",
        help="client configuration directory, for registry logins and TLS files "
        "(default: $POUCH_CONFIG or ~/.pouch)",
    )
    parser.add_argument(
        "-D", "--debug", action="store_true", help="show a traceback when a command fails"
    )
    parser.add_argument("-v", "--version", action="store_true", help="print the client version")
    sub: Sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    sub.only = only  # read by command() and group()

    from importlib import import_module

    for module in _ARGUMENT_MODULES:
        commands = _ARGUMENT_MODULES[module]
        if (
            only is None
            or only in commands
            or not any(only in c for c in _ARGUMENT_MODULES.values())
        ):
            import_module(f"pouch.cli.{module}").define(sub)
    return parser
