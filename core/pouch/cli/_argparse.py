"""The argparse parser of the CLI: help, usage errors, and every parse that
``pouch.cli._fastparse`` leaves to it.

Only ``--help``, a usage error or an unusual command line imports this module
(and with it ``argparse``, ``re`` and ``gettext``).
"""

from __future__ import annotations

import argparse
import os

from pouch.cli._errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["Formatter", "Parser"]


class Parser(argparse.ArgumentParser):
    """Reports usage errors as ``UsageError`` (exit status 125, as docker) instead of exiting 2.

    Its subcommands' parsers are of this class too, and all format their help
    with ``Formatter``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument COMMAND: invalid choice: "):
            word = message.split(": ", 2)[2].split(" (choose")[0]
            message = f"{word} is not a {self.prog} command"
        raise UsageError(f"{message}\nSee '{self.prog} --help'.")


class Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=min(100, _columns()))

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        # argparse measures subcommands ("rm (remove)") with less indentation than it
        # prints them with, so the longest one would push its summary to the next line.
        for subaction in self._iter_indented_subactions(action):
            width = len(self._format_action_invocation(subaction)) + self._current_indent
            self._action_max_length = max(self._action_max_length, width)


def _columns() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 100
