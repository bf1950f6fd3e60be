"""A small parser for the command lines argparse would parse without complaint.

``pouch.cli._parser.define`` declares the options and commands with argparse's
API; ``Spec`` records those calls instead (a few dozen objects, no
``argparse``, ``re``, ``enum`` or ``gettext`` to import), and ``parse`` follows
argparse's own algorithm over them: options, clustered short flags
(``-it``), ``--name=x`` and ``-e=B``, positionals matched greedily as
argparse's patterns match them, subcommands and their defaults.

It declines — returns None, and argparse parses the whole command line — at
anything it does not do exactly as argparse does: ``--help``, ``--``,
abbreviated long options, unknown flags or extra arguments, a value that
fails its type or choices, a missing argument, a command without a handler.
So help texts and usage errors always come from argparse, and a parse that
succeeds here gives what argparse gives (``tests/core/cli/test_fastparse.py``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any

__all__ = ["Namespace", "Spec", "parse"]

_SUPPRESS = "==SUPPRESS=="  # argparse.SUPPRESS
_REMAINDER = "..."  # argparse.REMAINDER
_PARSER = "A..."  # argparse.PARSER: a subcommand and everything after it
_ACTIONS = frozenset({"store", "store_true", "append", "help"})
_KEYWORDS = frozenset(
    {"action", "nargs", "type", "choices", "default", "metavar", "help", "required", "dest"}
)


class _Decline(Exception):
    """This command line is argparse's to parse."""


class Namespace:
    """The parsed arguments, read as attributes (as ``argparse.Namespace``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"Namespace({fields})"

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other) if hasattr(other, "__dict__") else NotImplemented

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    __hash__ = None  # type: ignore[assignment]


class _Argument:
    """One ``add_argument`` call (or a subparsers action, with ``nargs=_PARSER``)."""

    __slots__ = ("action", "choices", "default", "dest", "nargs", "options", "required", "type")

    def __init__(self, names: Sequence[str], kwargs: dict[str, Any], defaults: dict[str, Any]):
        self.options = [n for n in names if n.startswith("-")]
        self.action: str = kwargs.get("action") or "store"
        self.nargs: Any = kwargs.get("nargs")
        self.type: Callable[[str], Any] | None = kwargs.get("type")
        self.choices: Any = kwargs.get("choices")
        if self.options:
            longs = [o for o in self.options if o.startswith("--")]
            dest = kwargs.get("dest") or (longs or self.options)[0].lstrip("-").replace("-", "_")
        else:
            dest = names[0]
            if self.nargs not in ("?", "*") or ("default" not in kwargs and self.nargs == "*"):
                kwargs["required"] = True
        if "default" not in kwargs and dest in defaults:
            kwargs["default"] = defaults[dest]
        self.dest = _SUPPRESS if self.action == "help" else dest
        self.required = bool(kwargs.get("required", False))
        if self.action == "store_true":
            self.default: Any = kwargs.get("default", False)
        elif self.action == "help":
            self.default = _SUPPRESS
        else:
            self.default = kwargs.get("default")


class Spec:
    """Records ``ArgumentParser`` calls: ``add_argument``, ``add_argument_group``,
    ``add_subparsers`` and ``set_defaults``."""

    def __init__(self, prog: str, add_help: bool = True) -> None:
        self.prog = prog
        self.arguments: list[_Argument] = []
        self.options: dict[str, _Argument] = {}
        self.defaults: dict[str, Any] = {}
        self.unsupported = False
        self.commands: _Commands | None = None
        if add_help:
            self.add_argument("-h", "--help", action="help")

    def add_argument(self, *names: str, **kwargs: Any) -> None:
        if not _KEYWORDS.issuperset(kwargs) or kwargs.get("action", "store") not in _ACTIONS:
            self.unsupported = True
        nargs = kwargs.get("nargs")
        if nargs not in (None, "?", "*", "+", _REMAINDER) or (names[0].startswith("-") and nargs):
            self.unsupported = True
        argument = _Argument(names, kwargs, self.defaults)
        self.arguments.append(argument)
        for option in argument.options:
            self.options[option] = argument

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Spec:
        return self

    def add_subparsers(self, **kwargs: Any) -> _Commands:
        if self.commands is not None or "dest" in kwargs or kwargs.get("required"):
            self.unsupported = True
        self.commands = _Commands(self.prog)
        argument = _Argument(["COMMAND"], {"nargs": _PARSER, "required": False}, {})
        argument.dest = _SUPPRESS
        argument.choices = self.commands.choices
        self.arguments.append(argument)
        return self.commands

    def set_defaults(self, **kwargs: Any) -> None:
        self.defaults.update(kwargs)
        for argument in self.arguments:
            if argument.dest in kwargs:
                argument.default = kwargs[argument.dest]


class _Commands:
    """Records a subparsers action's ``add_parser`` calls."""

    def __init__(self, prog: str) -> None:
        self._prog_prefix = prog  # read by pouch.cli._parser, as argparse's
        self.choices: dict[str, Spec] = {}

    def add_parser(self, name: str, **kwargs: Any) -> Spec:
        spec = Spec(f"{self._prog_prefix} {name}", add_help=kwargs.get("add_help", True))
        for word in (name, *kwargs.get("aliases", ())):
            self.choices[word] = spec
        return spec


def parse(spec: Spec, argv: Sequence[str]) -> Namespace | None:
    """``argv`` parsed as argparse parses it with the parser ``spec`` recorded, or None."""
    if "--" in argv:
        return None
    values: dict[str, Any] = {}
    try:
        extras = _parse(spec, list(argv), values)
    except _Decline:
        return None
    if extras or values.get("handler") is None:
        return None
    return Namespace(**values)


def _parse(spec: Spec, args: list[str], namespace: dict[str, Any]) -> list[str]:
    """argparse's ``parse_known_args``: fills ``namespace``, returns the extras."""
    if spec.unsupported:
        raise _Decline
    for argument in spec.arguments:
        dest = argument.dest
        if dest != _SUPPRESS and dest not in namespace and argument.default != _SUPPRESS:
            namespace[dest] = argument.default
    for dest, value in spec.defaults.items():
        namespace.setdefault(dest, value)

    found = {i: _optional(spec, arg) for i, arg in enumerate(args)}
    options = {i: found for i, found in found.items() if found is not None}
    pattern = "".join("O" if i in options else "A" for i in range(len(args)))
    positionals = [a for a in spec.arguments if not a.options]
    seen: set[_Argument] = set()
    extras: list[str] = []

    def take(argument: _Argument, strings: list[str]) -> None:
        seen.add(argument)
        _act(argument, _values(argument, strings), namespace, extras)

    def consume_positionals(start: int) -> int:
        counts = _match_partial(positionals, pattern[start:])
        for argument, count in zip(positionals, counts, strict=False):
            take(argument, args[start : start + count])
            start += count
        positionals[:] = positionals[len(counts) :]
        return start

    def consume_optional(start: int) -> int:
        argument, option, explicit = options[start]
        taken: list[tuple[_Argument, list[str]]] = []
        while True:
            if argument is None:
                extras.append(args[start])
                return start + 1
            if explicit is not None:
                count = _match_optional(argument, "A")
                if count == 0 and option[1] != "-" and explicit != "":
                    taken.append((argument, []))
                    option = "-" + explicit[0]
                    if option not in spec.options:
                        raise _Decline  # ignored explicit argument
                    argument = spec.options[option]
                    explicit = explicit[1:] or None
                elif count == 1:
                    stop = start + 1
                    taken.append((argument, [explicit]))
                    break
                else:
                    raise _Decline
            else:
                count = _match_optional(argument, pattern[start + 1 :])
                stop = start + 1 + count
                taken.append((argument, args[start + 1 : stop]))
                break
        for argument, strings in taken:
            take(argument, strings)
        return stop

    last = max(options, default=-1)
    start = 0
    while start <= last:
        next_option = min(i for i in options if i >= start)
        if start != next_option:
            end = consume_positionals(start)
            if end > start:
                start = end
                continue
            start = end
        if start not in options:
            extras.extend(args[start:next_option])
            start = next_option
        start = consume_optional(start)
    stop = consume_positionals(start)
    extras.extend(args[stop:])

    for argument in spec.arguments:
        if argument in seen:
            continue
        if argument.required:
            raise _Decline
        default = argument.default
        if namespace.get(argument.dest) is default and isinstance(default, str):
            namespace[argument.dest] = _convert(argument, default)
    return extras


def _optional(spec: Spec, arg: str) -> tuple[_Argument | None, str, str | None] | None:
    """argparse's ``_parse_optional``: None for a positional, else the option's
    argument (None when unknown), its option string and its ``=``/attached value."""
    if not arg or arg[0] != "-":
        return None
    if arg in spec.options:
        return spec.options[arg], arg, None
    if len(arg) == 1:
        return None
    if "=" in arg:
        option, explicit = arg.split("=", 1)
        if option in spec.options:
            return spec.options[option], option, explicit
    if arg[1] == "-":
        if any(option.startswith(arg.split("=", 1)[0]) for option in spec.options):
            raise _Decline  # an abbreviation, maybe ambiguous
    else:
        matches = [o for o in spec.options if o == arg[:2] or o.startswith(arg)]
        if len(matches) > 1 or (matches and matches[0] != arg[:2]):
            raise _Decline
        if matches:
            return spec.options[arg[:2]], arg[:2], arg[2:]
    if "\n" in arg:
        raise _Decline
    body = arg[1:]
    whole, dot, fraction = body.partition(".")
    if body.isdecimal() or (dot and fraction.isdecimal() and (not whole or whole.isdecimal())):
        return None  # a negative number: no option of pouch's looks like one
    if " " in arg:
        return None
    return None, arg, None


def _ends(nargs: Any, pattern: str, pos: int) -> Iterator[int]:
    """Where argparse's regular expression for ``nargs`` may end a match that starts
    at ``pos`` of ``pattern`` (``A``: an argument, ``O``: an option), in the order
    its backtracking tries them."""
    run = len(pattern) - pos - len(pattern[pos:].lstrip("A"))
    if nargs is None:
        if run:
            yield pos + 1
    elif nargs == "?":
        if run:
            yield pos + 1
        yield pos
    elif nargs == "*":
        yield from range(pos + run, pos - 1, -1)
    elif nargs == "+":
        yield from range(pos + run, pos, -1)
    elif nargs == _REMAINDER:
        yield from range(len(pattern), pos - 1, -1)
    elif nargs == _PARSER:
        if run:
            yield from range(len(pattern), pos, -1)
    else:
        raise _Decline


def _match(arguments: Sequence[_Argument], pattern: str, pos: int) -> list[int] | None:
    if not arguments:
        return []
    for end in _ends(arguments[0].nargs, pattern, pos):
        rest = _match(arguments[1:], pattern, end)
        if rest is not None:
            return [end - pos, *rest]
    return None


def _match_partial(positionals: Sequence[_Argument], pattern: str) -> list[int]:
    for count in range(len(positionals), 0, -1):
        counts = _match(positionals[:count], pattern, 0)
        if counts is not None:
            return counts
    return []


def _match_optional(argument: _Argument, pattern: str) -> int:
    if argument.action in ("store_true", "help"):
        return 0
    for end in _ends(argument.nargs, pattern, 0):
        return end
    raise _Decline  # expected an argument


def _convert(argument: _Argument, text: str) -> Any:
    if argument.type is None:
        return text
    try:
        return argument.type(text)
    except Exception:
        raise _Decline from None


def _check(argument: _Argument, value: Any) -> None:
    if argument.choices is not None and value not in argument.choices:
        raise _Decline


def _values(argument: _Argument, strings: list[str]) -> Any:
    """argparse's ``_get_values`` (there is no ``--`` to remove)."""
    nargs = argument.nargs
    value: Any
    if not strings and nargs == "?":
        value = None if argument.options else argument.default
        if isinstance(value, str):
            value = _convert(argument, value)
            _check(argument, value)
    elif not strings and nargs == "*" and not argument.options:
        value = argument.default if argument.default is not None else strings
        _check(argument, value)
    elif len(strings) == 1 and nargs in (None, "?"):
        value = _convert(argument, strings[0])
        _check(argument, value)
    elif nargs == _REMAINDER:
        value = [_convert(argument, s) for s in strings]
    elif nargs == _PARSER:
        value = [_convert(argument, s) for s in strings]
        _check(argument, value[0])
    else:
        value = [_convert(argument, s) for s in strings]
        for item in value:
            _check(argument, item)
    return value


def _act(argument: _Argument, value: Any, namespace: dict[str, Any], extras: list[str]) -> None:
    if argument.action == "help":
        raise _Decline
    if argument.nargs == _PARSER:
        spec: Spec = argument.choices[value[0]]
        values: dict[str, Any] = {}
        extras.extend(_parse(spec, value[1:], values))
        namespace.update(values)
    elif argument.action == "store_true":
        namespace[argument.dest] = True
    elif argument.action == "append":
        items = namespace.get(argument.dest)
        if items is not None and type(items) is not list:
            raise _Decline
        namespace[argument.dest] = [*(items or []), value]
    else:
        namespace[argument.dest] = value
