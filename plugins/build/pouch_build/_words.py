"""Docker's word processing: quotes, escapes and ``$VAR`` expansion in instructions.

As the classic builder does it for ENV, LABEL, ARG, WORKDIR, USER, COPY,
EXPOSE, FROM …: single quotes are literal, double quotes allow ``$``
expansion, a backslash escapes the next character (in the Dockerfile's
escape character), and ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
``${VAR-default}``, ``${VAR:+alternative}``, ``${VAR+alternative}`` expand
from the build's variables. ``RUN``'s shell form is left to the shell.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["expand", "split_pairs"]

_NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME = _NAME_START | set("0123456789")


class _Reader:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text, self.env, self.escape = text, env, escape
        self.at = 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.at += 1
        return char

    def word(self, stop: str = "") -> str:
        out: list[str] = []
        while self.at < len(self.text) and self.peek() not in stop:
            char = self.take()
            if char == self.escape:
                out.append(self.take())
            elif char == "'":
                end = self.text.find("'", self.at)
                if end < 0:
                    raise ValueError(f"unmatched ' in {self.text!r}")
                out.append(self.text[self.at : end])
                self.at = end + 1
            elif char == '"':
                out.append(self.quoted())
            elif char == "$":
                out.append(self.variable())
            else:
                out.append(char)
        return "".join(out)

    def quoted(self) -> str:
        out: list[str] = []
        while True:
            char = self.take()
            if not char:
                raise ValueError(f'unmatched " in {self.text!r}')
            if char == '"':
                return "".join(out)
            if char == self.escape and self.peek() in ('"', self.escape, "$"):
                out.append(self.take())
            elif char == "$":
                out.append(self.variable())
            else:
                out.append(char)

    def variable(self) -> str:
        if self.peek() == "{":
            self.take()
            name = self._name()
            if not name:
                raise ValueError(f"bad substitution in {self.text!r}")
            operator = ""
            if self.peek() == ":":
                operator = self.take()
            if self.peek() in ("-", "+"):
                operator += self.take()
                argument = self.word(stop="}")
            elif operator:
                raise ValueError(f"unsupported modifier in {self.text!r}")
            else:
                argument = ""
            if self.take() != "}":
                raise ValueError(f"missing }} in {self.text!r}")
            return _modify(self.env, name, operator, argument)
        name = self._name()
        return self.env.get(name, "") if name else "$"

    def _name(self) -> str:
        start = self.at
        if self.peek() in _NAME_START:
            while self.peek() and self.peek() in _NAME:
                self.take()
        return self.text[start : self.at]


def _modify(env: Mapping[str, str], name: str, operator: str, argument: str) -> str:
    value = env.get(name)
    if operator == ":-":
        return value if value else argument
    if operator == "-":
        return value if value is not None else argument
    if operator == ":+":
        return argument if value else ""
    if operator == "+":
        return argument if value is not None else ""
    return value or ""


def expand(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """``text`` with quotes removed and variables expanded; ``ValueError`` saying why not."""
    return _Reader(text, env, escape).word()


def split_pairs(values: tuple[str, ...], what: str) -> list[tuple[str, str]]:
    """ENV/LABEL/ARG operands as the parser gives them: ``(k, v, k, v)`` for the
    ``k=v`` forms, ``(k, v)`` for the legacy ``ENV k v`` form."""
    if len(values) % 2:
        raise ValueError(f"{what} needs KEY=VALUE pairs")
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]
