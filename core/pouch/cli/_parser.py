"""The argument parser: global options, and the command tables of the ``_args_*`` modules.

Each command names its handler as ``"module:function"``; ``main`` imports only
that module, after parsing, so ``pouch --help`` never loads the HTTP client.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pouch.cli._argparse import Parser

    Sub = Any  # argparse's _SubParsersAction is private; typed loosely here

__all__ = [
    "PRUNE_FILTER_HELP",
    "REMAINDER",
    "add_renamed",
    "build_parser",
    "builtin",
    "command",
    "command_words",
    "define",
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


REMAINDER = "..."  # argparse.REMAINDER: the rest of the command line, options and all


class _Skipped:
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


_SKIPPED: Parser = _Skipped()  # type: ignore[assignment]


class _SkippedGroup:
    """The subcommands of a group that is not needed: all of them are skipped."""

    only = "\0"


def _wanted(sub: Sub, name: str, aliases: Sequence[str] = ()) -> bool:
    only: str | None = getattr(sub, "only", None)
    return only is None or only == name or only in aliases


def _renamed(
    sub: Sub, name: str, description: str, examples: Sequence[str], kwargs: dict[str, Any]
) -> tuple[str, str, Sequence[str]] | None:
    """A top-level command as a group's subcommand (``images`` as ``image ls``), or None.

    The examples are rewritten to the group's form; the description names
    every form. None when the group has no such subcommand.
    """
    names: Sequence[str] | None = sub.renames.get(name)
    if names is None:
        return None
    new, *aliases = names
    kwargs["aliases"] = aliases
    prefix = f"{sub._prog_prefix} "
    forms = [prefix + n for n in (new, *aliases)] + [f"pouch {name}"]
    description = f"{description}\n\nAliases: {', '.join(forms)}".lstrip()
    examples = [(f"{e} ").replace(f"pouch {name} ", prefix + new + " ")[:-1] for e in examples]
    return new, description, examples


def command(
    sub: Sub,
    name: str,
    handler: str,
    summary: str,
    description: str = "",
    examples: Sequence[str] = (),
    **kwargs: Any,
) -> Parser:
    """Add one command with its one-line summary, longer description and examples.

    Through ``add_renamed`` the command is added under the group's name for it, or
    not at all.
    """
    if getattr(sub, "renames", None) is not None:
        renamed = _renamed(sub, name, description, examples, kwargs)
        if renamed is None:
            return _SKIPPED
        name, description, examples = renamed
    if not _wanted(sub, name, kwargs.get("aliases", ())):
        return _SKIPPED
    epilog = ("Examples:\n" + "\n".join(f"  {e}" for e in examples)) if examples else None
    parser: Parser = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\n{description}".rstrip() if description else summary,
        epilog=epilog,
        **kwargs,
    )
    parser.set_defaults(handler=handler, command_prog=parser.prog)
    return parser


def group(sub: Sub, name: str, summary: str, description: str = "") -> Sub:
    """A command with subcommands of its own (``network``, ``volume``, ``system``).

    Of its subcommands only the one this run names (``sub.then``) is built.
    """
    if getattr(sub, "renames", None) is not None or not _wanted(sub, name):
        return _SkippedGroup()
    parser = sub.add_parser(name, help=summary, description=description or summary)
    parser.set_defaults(handler=None, group_parser=parser, command_prog=parser.prog)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    commands.only = getattr(sub, "then", None)  # read by command()
    return commands


class _Renamed:
    """A group's subcommands as the tables of top-level commands see them (``add_renamed``)."""

    def __init__(self, commands: Sub, renames: Mapping[str, Sequence[str]]) -> None:
        self.commands = commands
        self.renames = renames
        self.only: str | None = getattr(commands, "only", None)
        self._prog_prefix: str = getattr(commands, "_prog_prefix", "pouch")

    def add_parser(self, name: str, **kwargs: Any) -> Parser:
        parser: Parser = self.commands.add_parser(name, **kwargs)
        return parser


def add_renamed(commands: Sub, renames: Mapping[str, Sequence[str]]) -> None:
    """Add top-level commands to a group under other names (docker's ``image ls`` for
    ``images``), with their flags and handlers.

    ``renames`` maps a top-level command to its name in the group and that
    name's aliases: ``{"images": ("ls", "list")}``. The tables that define
    those commands add them, and nothing else; when this run names one
    subcommand, only its table is loaded.
    """
    view = _Renamed(commands, renames)
    for module, names in _ARGUMENT_MODULES.items():
        if any(view.only is None or view.only in renames[n] for n in names & renames.keys()):
            _table(module).define(view)


PRUNE_FILTER_HELP = (
    "only what matches: until=TIME (created before it: 10m, RFC 3339 or a Unix time), "
    "label=KEY[=VALUE], label!=KEY[=VALUE]; repeatable"
)


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
    "_args_groups": frozenset({"image", "container"}),
    "_args_system": frozenset(
        {"network", "volume", "system", "plugin", "info", "version", "events"}
    ),
}


def _table(module: str) -> Any:
    """The ``_args_*`` module named ``module``: it defines commands with ``define(sub)``."""
    return __import__(f"pouch.cli.{module}", fromlist=["define"])


_VALUED = frozenset({"-H", "--host", "--tlscacert", "--tlscert", "--tlskey", "--config"})


def builtin(word: str) -> bool:
    """Whether ``word`` is one of pouch's own commands (else maybe a ``pouch-WORD`` program)."""
    return any(word in commands for commands in _ARGUMENT_MODULES.values())


def command_words(argv: Sequence[str]) -> tuple[str | None, str | None]:
    """The command ``argv`` names, or None when there is none before a ``--help``;
    and the word after it (a group's subcommand: ``ls`` of ``image ls``), or None."""
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif arg in ("-h", "--help"):
            return None, None
        elif not arg.startswith("-"):
            then = argv[index + 1] if index + 1 < len(argv) else None
            return arg, None if then is None or then.startswith("-") else then
    return None, None


def build_parser(
    only: str | None = None, then: str | None = None, *, subcommands: bool = True
) -> Parser:
    """The whole parser, or with ``only`` the parser of that one command (fast).

    ``then``: of the group ``only``, the one subcommand to build. Without
    ``subcommands`` the groups have none: enough for ``pouch --help``.
    """
    from pouch.cli._argparse import Parser

    parser = Parser(prog="pouch", description=DESCRIPTION, epilog=EPILOG)
    define(parser, only, then, subcommands=subcommands)
    return parser


def define(
    parser: argparse.ArgumentParser,
    only: str | None = None,
    then: str | None = None,
    *,
    subcommands: bool = True,
) -> None:
    """Add the global options and the commands to ``parser`` (as ``build_parser``).

    ``parser`` is an ``ArgumentParser`` or what ``pouch.cli._fastparse`` records
    the same calls with.
    """
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
    sub.then = then if subcommands else _SkippedGroup.only

    for module in _ARGUMENT_MODULES:
        commands = _ARGUMENT_MODULES[module]
        if (
            only is None
            or only in commands
            or not any(only in c for c in _ARGUMENT_MODULES.values())
        ):
            _table(module).define(sub)
