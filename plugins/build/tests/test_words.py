"""Docker's word rules: what ENV, LABEL, COPY … see after quotes and variables."""

from __future__ import annotations

import pytest
from pouch_build._words import expand

ENV = {"NAME": "pouch", "EMPTY": "", "PATH": "/usr/bin"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$NAME-${NAME}", "pouch-pouch"),
        ('"two words $NAME"', "two words pouch"),
        ("'single $NAME'", "single $NAME"),
        ("escaped\\ space\\$NAME", "escaped space$NAME"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${NAME:+set}", "set"),
        ("${EMPTY:+set}", ""),
        ("${EMPTY+set}", "set"),
        ("${MISSING+set}", ""),
        ("${PATH}:/opt/bin", "/usr/bin:/opt/bin"),
        ("cost $5", "cost $5"),
    ],
)
def test_expansion(text: str, expected: str) -> None:
    assert expand(text, ENV) == expected


@pytest.mark.parametrize("text", ['"open', "'open", "${NAME", "${NAME:?x}", "${}"])
def test_bad_words_say_why(text: str) -> None:
    with pytest.raises(ValueError):
        expand(text, ENV)


def test_the_escape_directive_changes_the_escape_character() -> None:
    assert expand("C:\\dir`$NAME", ENV, escape="`") == "C:\\dir$NAME"
