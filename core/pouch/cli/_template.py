"""A small, safe subset of Go templates for ``--format``.

Supported: text; ``{{.}}``; fields and dotted paths (``{{.State.ExitCode}}``);
string and number literals; the functions ``json``, ``upper``, ``lower``,
``title``, ``join``, ``split``, ``index``, ``len``, ``truncate`` and ``pad``;
pipes (``{{.Names | upper}}``); ``{{-``/``-}}`` whitespace trimming; ``\\t``
and ``\\n`` escapes. Not supported: ``range``, ``if``, ``with``, variables and
parentheses — they are reported, not guessed at.

Safety: a template only reads keys of the JSON-like data it is given (dicts,
lists, strings, numbers); it never calls into Python objects, except the
callables the CLI itself puts in a row (``{{.Label "key"}}`` in ``ps``).
"""

from __future__ import annotations

from pouch.cli._errors import UsageError
from pouch.cli._jsonc import loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Node = tuple[str, Any]  # ("text", str) | ("pipeline", list of commands)

__all__ = ["HeaderRow", "Template", "go_format"]

# Patterns are strings, compiled (and cached by ``re``) by the first template that
# is more than text and fields: ``{{.ID}}\t{{.Names}}`` is compiled without ``re``.
_ACTION = r"\{\{(-\s)?(.*?)(\s-)?\}\}"
_TOKEN = r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<pipe>\|)
    | (?P<other>\S+)
    )"""
_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NEXT = _FIRST | frozenset("0123456789")
_UNSUPPORTED = {"range", "if", "with", "else", "end", "define", "template", "block", "not", "and"}
_HELP = (
    "pouch --format supports fields ({{.Name}}, {{.State.Status}}), literals, pipes and the "
    "functions json, upper, lower, title, join, split, index, len, truncate, pad"
)


class HeaderRow(dict[str, str]):
    """The data a ``table`` template is rendered with for its header line."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(headers)

    def header(self, name: str) -> str:
        return self.get(name) or _words(name).upper()


def _words(name: str) -> str:
    """``RunningFor`` → ``Running For``: a space where a lower-case letter meets a capital."""
    return "".join(
        f" {c}" if i and "a" <= name[i - 1] <= "z" and "A" <= c <= "Z" else c
        for i, c in enumerate(name)
    )


def go_format(value: Any) -> str:
    """Print a value as Go's ``%v`` would (``true``, ``[a b]``, ``map[k:v]``)."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _join(items: Any, sep: Any) -> str:
    if isinstance(items, list | tuple):
        return str(sep).join(go_format(i) for i in items)
    return go_format(items)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _truncate(value: Any, length: Any) -> str:
    text = go_format(value)
    return text[: int(length)]


def _pad(value: Any, left: Any, right: Any) -> str:
    return " " * int(left) + go_format(value) + " " * int(right)


def _json(value: Any) -> str:
    if isinstance(value, dict):  # a ps row holds callables ({{.Label "k"}}): not data
        value = {k: v for k, v in value.items() if not callable(v)}
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "upper": lambda v: go_format(v).upper(),
    "lower": lambda v: go_format(v).lower(),
    "title": lambda v: go_format(v).title(),
    "join": _join,
    "split": lambda v, sep: go_format(v).split(str(sep)),
    "index": _index,
    "len": lambda v: len(v) if v is not None else 0,
    "truncate": _truncate,
    "pad": _pad,
}


class Template:
    """A compiled ``--format`` template; ``render(data)`` gives one line of output."""

    def __init__(self, text: str) -> None:
        self.source = text
        self.table = text.startswith("table ") or text == "table"
        if self.table:
            text = text[len("table") :].strip(" ")
        text = text.replace("\\t", "\t").replace("\\n", "\n")
        self._nodes = self._compile(text)

    @staticmethod
    def _compile(text: str) -> list[Node]:
        simple = _fields_only(text)
        if simple is not None:
            return simple
        import re

        nodes: list[Node] = []
        pos = 0
        for match in re.finditer(_ACTION, text, re.DOTALL):
            literal = text[pos : match.start()]
            if match.group(1):
                literal = literal.rstrip()
            if nodes and nodes[-1][0] == "trim":
                nodes.pop()
                literal = literal.lstrip()
            nodes.append(("text", literal))
            nodes.append(("pipeline", _parse_pipeline(match.group(2))))
            if match.group(3):
                nodes.append(("trim", None))
            pos = match.end()
        tail = text[pos:]
        if nodes and nodes[-1][0] == "trim":
            nodes.pop()
            tail = tail.lstrip()
        if "{{" in tail:
            raise UsageError(f"invalid --format template: unclosed action in {text!r}")
        nodes.append(("text", tail))
        return nodes

    def render(self, data: Any) -> str:
        out: list[str] = []
        for kind, value in self._nodes:
            if kind == "text":
                out.append(value)
            else:
                result = _run_pipeline(value, data)
                out.append(result if isinstance(result, str) else go_format(result))
        return "".join(out)


def _is_field(source: str) -> bool:
    """Whether ``source`` is one field token (``.``, ``.Name``, ``.State.Status``)."""
    if source == ".":
        return True
    names = source.split(".")
    return (
        len(names) > 1
        and not names[0]
        and all(name and name[0] in _FIRST and _NEXT.issuperset(name) for name in names[1:])
    )


def _fields_only(text: str) -> list[Node] | None:
    """``Template._compile`` of a template whose actions are all plain fields, without
    ``re``; None for any other template."""
    nodes: list[Node] = []
    literal, *actions = text.split("{{")
    for action in actions:
        source, closed, after = action.partition("}}")
        if not closed or not _is_field(source):
            return None
        fields = [name for name in source.split(".") if name]
        nodes.append(("text", literal))
        nodes.append(("pipeline", [[("field", fields)]]))
        literal = after
    nodes.append(("text", literal))
    return nodes


def _parse_pipeline(source: str) -> list[list[tuple[str, Any]]]:
    import re

    commands: list[list[tuple[str, Any]]] = [[]]
    for match in re.finditer(_TOKEN, source.strip(), re.VERBOSE):
        kind = match.lastgroup
        text = match.group(kind or "other")
        if kind == "pipe":
            commands.append([])
        elif kind == "string":
            commands[-1].append(("value", text[1:-1] if text[0] == "`" else loads(text)))
        elif kind == "number":
            commands[-1].append(("value", float(text) if "." in text else int(text)))
        elif kind == "field":
            commands[-1].append(("field", [p for p in text.split(".") if p]))
        elif kind == "ident" and text in _FUNCTIONS:
            commands[-1].append(("func", text))
        else:
            word = text if kind == "ident" else repr(text)
            why = "is not supported" if text in _UNSUPPORTED or kind != "ident" else "is unknown"
            raise UsageError(f"invalid --format template: {word} {why}; {_HELP}")
    if any(not command for command in commands):
        raise UsageError(f"invalid --format template: empty action {{{{{source}}}}}")
    return commands


def _lookup(data: Any, path: list[str]) -> Any:
    value = data
    for name in path:
        if isinstance(value, dict):
            value = value.get(name)
        elif value is None:
            return None
        else:
            raise UsageError(
                f"template: cannot read field {name!r} of a {type(value).__name__} value"
            )
    return value


def _run_pipeline(commands: list[list[tuple[str, Any]]], data: Any) -> Any:
    if isinstance(data, HeaderRow):
        # A header cell names the first field the action reads, whatever it does with it.
        fields = [v for command in commands for k, v in command if k == "field"]
        return data.header(fields[0][-1]) if fields and fields[0] else ""
    piped: list[Any] = []
    for command in commands:
        (kind, head), rest = command[0], command[1:]
        args = [_lookup(data, v) if k == "field" else v for k, v in rest if k != "func"]
        if any(k == "func" for k, _ in rest):
            raise UsageError(f"invalid --format template: a function as an argument; {_HELP}")
        args += piped
        if kind == "func":
            try:
                result = _FUNCTIONS[head](*args)
            except TypeError:
                raise UsageError(f"template: wrong number of arguments for {head}") from None
        else:
            result = _lookup(data, head) if kind == "field" else head
            if callable(result):
                result = result(*args)
            elif args:
                raise UsageError("invalid --format template: a value cannot take arguments")
        piped = [result]
    return piped[0]
