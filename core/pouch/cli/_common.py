"""Helpers the command modules share: one action over many names, confirmations."""

from __future__ import annotations

import sys

from pouch.cli._errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["confirm", "for_each"]


def for_each(names: Iterable[str], action: Callable[[str], object], *, echo: bool = True) -> int:
    """Run ``action`` on each name, printing the name when it worked (as docker does).

    A failure is reported at once (``Error: ...``) and the others still run;
    the command then fails with exit status 1.
    """
    failed: list[str] = []
    for name in names:
        try:
            action(name)
        except CLIError as exc:
            sys.stdout.flush()
            sys.stderr.write(f"Error: {exc.message}\n")
            failed.append(name)
            continue
        if echo:
            sys.stdout.write(f"{name}\n")
    return 1 if failed else 0


def confirm(question: str, force: bool) -> bool:
    """Ask ``question [y/N]`` on the terminal unless ``force``; no terminal means no."""
    if force:
        return True
    if not sys.stdin.isatty():
        raise CLIError(f"{question.strip()} — not confirmed: stdin is not a terminal (use -f)")
    sys.stdout.write(f"{question} Are you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")
