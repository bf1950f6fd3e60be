"""Dockerfiles as stages: Docker's parser underneath, directives, targets, what is refused."""

from __future__ import annotations

import pytest
from pouch_build._stages import parse

from pouch.errors import InvalidArgument


def test_stages_global_args_and_targets() -> None:
    parsed = parse(
        "ARG BASE=busybox\n"
        "FROM ${BASE} AS Build\n"
        "RUN make \\\n  all\n"
        "FROM --platform=linux/amd64 scratch\n"
        "COPY --from=build /out /\n"
    )
    assert [a.original for a in parsed.global_args] == ["ARG BASE=busybox"]
    assert [(s.index, s.base, s.name, s.platform) for s in parsed.stages] == [
        (0, "${BASE}", "build", ""),
        (1, "scratch", "", "linux/amd64"),
    ]
    assert parsed.stages[0].steps[0].value == ("make   all",)
    assert (parsed.target(""), parsed.target("BUILD")) == (1, 0)
    with pytest.raises(InvalidArgument, match="target stage 'test' could not be found"):
        parsed.target("test")
    assert parsed.escape == "\\"


def test_the_escape_directive() -> None:
    parsed = parse("# escape=`\nFROM busybox\nRUN echo a `\n  b\n")
    assert parsed.escape == "`"
    assert parsed.stages[0].steps[0].value == ("echo a   b",)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("RUN true\n", "RUN before the first FROM"),
        ("# only a comment\n", "cannot be parsed: file with no instructions"),
        ("ARG A=1\n", "has no FROM"),
        ("FROM a b c d\n", "FROM takes an image and an optional AS name"),
    ],
)
def test_what_is_refused(text: str, said: str) -> None:
    with pytest.raises(InvalidArgument, match=said):
        parse(text)
