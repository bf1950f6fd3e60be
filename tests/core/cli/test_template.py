"""The --format template subset: what it renders, and what it refuses."""

from __future__ import annotations

import io

import pytest

from pouch.cli._errors import UsageError
from pouch.cli._format import emit, make_template, tabulate
from pouch.cli._template import Template, go_format

CONTAINER = {
    "Id": "3f2a9c",
    "Name": "/web",
    "State": {"Status": "exited", "ExitCode": 3, "Running": False},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"tier": "front"}, "Tty": True},
    "Mounts": [],
    "Ratio": 0.5,
}


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ("{{.Id}}", "3f2a9c"),
        ("{{.State.ExitCode}}", "3"),
        ("{{ .State.Status }}", "exited"),
        ("{{.State.Running}}", "false"),
        ("{{.Config.Tty}}", "true"),
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ("{{.Config.Labels}}", "map[tier:front]"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Ratio}}", "0.5"),
        ("{{json .State}}", '{"Status":"exited","ExitCode":3,"Running":false}'),
        ("{{json .Config.Env}}", '["A=1","B=2"]'),
        ("{{upper .State.Status}}", "EXITED"),
        ("{{.State.Status | upper}}", "EXITED"),
        ('{{join .Config.Env ","}}', "A=1,B=2"),
        ('{{index .Config.Labels "tier"}}', "front"),
        ("{{len .Config.Env}}", "2"),
        ("{{truncate .Id 3}}", "3f2"),
        ('{{split "a:b" ":"}}', "[a b]"),
        ("name={{.Name}} code={{.State.ExitCode}}", "name=/web code=3"),
        ("{{.Id}}\\t{{.Name}}", "3f2a9c\t/web"),
        ("a {{- .Id -}} b", "a3f2a9cb"),
        ('{{`raw`}} {{"q"}} {{7}}', "raw q 7"),
    ],
)
def test_renders(template: str, output: str) -> None:
    assert Template(template).render(CONTAINER) == output


def test_whole_object_as_json_round_trips() -> None:
    import json

    assert json.loads(Template("{{json .}}").render(CONTAINER)) == CONTAINER


@pytest.mark.parametrize(
    ("template", "word"),
    [
        ("{{range .Mounts}}{{.Source}}{{end}}", "range"),
        ("{{if .State.Running}}up{{end}}", "if"),
        ("{{$x := 1}}", "'$x'"),
        ('{{printf "%s" .Id}}', "printf"),
        ("{{(.Id)}}", "'(.Id)'"),
    ],
)
def test_refuses_what_it_does_not_support(template: str, word: str) -> None:
    with pytest.raises(UsageError) as info:
        Template(template).render(CONTAINER)
    assert word in info.value.message
    assert "subset" in info.value.message or "supports" in info.value.message


def test_unclosed_and_empty_actions() -> None:
    with pytest.raises(UsageError, match="unclosed"):
        Template("{{.Id")
    with pytest.raises(UsageError, match="empty"):
        Template("{{ }}")


def test_fields_of_scalars_are_an_error() -> None:
    with pytest.raises(UsageError, match="cannot read field"):
        Template("{{.Id.Short}}").render(CONTAINER)


def test_no_python_attribute_access() -> None:
    # Only dict keys are read: a template cannot reach an object's attributes.
    class Secret:
        token = "s3cret"

    assert Template("{{.token}}").render({"obj": Secret()}) == "<no value>"
    with pytest.raises(UsageError):
        Template("{{.obj.token}}").render({"obj": Secret()})


def test_row_callables_take_arguments() -> None:
    labels = {"tier": "front"}
    row = {"Label": lambda key: labels.get(key, "")}
    assert Template('{{.Label "tier"}}').render(row) == "front"
    assert Template("{{json .}}").render({"A": 1, **row}) == '{"A":1}'


def test_go_format() -> None:
    assert go_format(None) == "<no value>"
    assert go_format(2.0) == "2"
    assert go_format([1, [True, None]]) == "[1 [true <no value>]]"


def test_table_has_aligned_header() -> None:
    out = io.StringIO()
    rows = [{"ID": "abc", "Names": "web"}, {"ID": "0123456789ab", "Names": "db"}]
    emit(make_template("table {{.ID}}\\t{{.Names}}", ""), rows, {"ID": "CONTAINER ID"}, out)
    assert out.getvalue().splitlines() == [
        "CONTAINER ID   NAMES",
        "abc            web",
        "0123456789ab   db",
    ]


def test_header_names_fields_nobody_mapped() -> None:
    out = io.StringIO()
    emit(make_template('table {{.RunningFor}}\\t{{.Label "x"}}', ""), [], {}, out)
    assert out.getvalue() == "RUNNING FOR   LABEL\n"


def test_plain_and_json_formats() -> None:
    out = io.StringIO()
    emit(make_template("{{.ID}}:{{.Names}}", "table"), [{"ID": "a", "Names": "b"}], {}, out)
    assert out.getvalue() == "a:b\n"
    out = io.StringIO()
    emit(make_template("json", "table"), [{"ID": "a"}, {"ID": "b"}], {}, out)
    assert out.getvalue() == '{"ID":"a"}\n{"ID":"b"}\n'


def test_tabulate_min_width_and_padding() -> None:
    assert tabulate(["A\tB\tC", "long-cell-here\tx\ty"]) == [
        "A                B         C",
        "long-cell-here   x         y",
    ]
