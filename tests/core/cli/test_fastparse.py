"""The fast parser gives what argparse gives, or leaves the command line to argparse."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from pouch.cli._errors import UsageError
from pouch.cli._fastparse import Namespace, Spec, parse
from pouch.cli._parser import build_parser, builtin, command_words, define

H = "-H unix:///tmp/pouchd.sock"

CORPUS = [
    "ps",
    "ps -a",
    "ps -aq",
    "ps -qa --no-trunc",
    "ps -a -q",
    "ps -n 3",
    "ps -n=3",
    "ps -n3",
    "ps -n -1",
    "ps -n x",
    "ps --last 2 -l",
    "ps --format '{{.ID}}'",
    "ps --format='{{.Names}}\\t{{.Status}}'",
    "ps --format json",
    "ps -f status=exited -f name=web",
    "ps --filter status=exited --filter=label=a=b",
    "ps -f",
    "ps --fo json",
    "ps --all=1",
    "ps -x",
    "ps extra",
    "ps -- -a",
    "ps -h",
    "ps --help",
    f"{H} ps",
    f"ps {H}",
    f"-D {H} ps -a",
    "--host unix:///x.sock --tls ps",
    "--tlsverify --tlscacert ca.pem ps",
    "--tl ps",
    "--config /tmp/c ps -q",
    "-v ps",
    "-D",
    "image",
    "container",
    "container ls",
    "container ls -a --format '{{.ID}}'",
    "container list -q",
    "container ps",
    "container rm -f web",
    "container inspect -s web",
    "container prune -f --filter until=24h",
    "container nope",
    "image ls",
    "image list -q",
    "image rm busybox",
    "image inspect busybox",
    "image prune -a -f",
    "image prune -f --filter until=24h --filter=label=a",
    "network prune -f --filter until=1h",
    "system prune -af --filter label=x",
    "images",
    "images -q --no-trunc",
    "images -a busybox",
    "run busybox",
    "run --rm busybox true",
    "run --rm --network none busybox true",
    "run -d --name web busybox sleep 1000",
    "run -it busybox sh",
    "run -ti --rm busybox sh -c 'echo hi'",
    "run -e A=1 -e=B -eC=3 --env D busybox env",
    "run --name=x busybox",
    "run -p 8080:80/udp -p 127.0.0.1:53:53 busybox",
    "run -v /a:/b:ro -w /b busybox ls",
    "run busybox cmd --flag",
    "run busybox cmd -it --rm",
    "run busybox -- true",
    "run --rm -- busybox true",
    "run --memory 512m --cpus 1.5 busybox",
    "run --restart on-failure:3 busybox",
    "run -u 1000:1000 busybox id",
    "run --entrypoint sh busybox -c 'ls -l'",
    "run --help",
    "run -h busybox",
    "run --hostname web busybox hostname",
    "run",
    "run --rm",
    "run --unknown busybox",
    "run -itd busybox sh",
    "run -i -t -d busybox",
    "run -dit busybox",
    "run --init busybox",
    "run --detach-keys ctrl-x busybox",
    "create --name web busybox",
    "create -t busybox sh",
    "start web",
    "start -ai web",
    "start -a -i web other",
    "exec web ls",
    "exec -it web sh",
    "exec -e A=1 -u root -w /tmp web ls -la",
    "exec web sh -c 'echo -n hi'",
    "exec -d web sleep 10",
    "attach web",
    "stop web",
    "stop -t 30 web db",
    "stop -t x web",
    "stop -t -1 web",
    "stop",
    "restart web",
    "kill web",
    "kill -s HUP web",
    "kill --signal=9 web",
    "rm web",
    "rm -f web",
    "rm -fv web db",
    "rm web -f",
    "rm web -f db",
    "rm -vf",
    "pause web",
    "unpause web",
    "rename web web-old",
    "rename web",
    "update --memory 1g --cpus 2 web",
    "update --pids-limit -1 web",
    "update --memory-swap -1 web",
    "update --restart on-failure:3 job",
    "wait job",
    "logs web",
    "logs -f --tail 10 web",
    "logs -n 5 -t web",
    "logs --since 10m web",
    "logs",
    "top web",
    "top web -o pid,comm",
    "top web aux",
    "stats",
    "stats --no-stream",
    "stats --no-stream web db",
    "stats --no-stream --format '{{.Name}} {{.MemUsage}}'",
    "inspect web",
    "inspect -f '{{.State.ExitCode}}' job",
    "inspect --type image -f '{{json .Config.Env}}' busybox",
    "inspect --type nope web",
    "inspect -s web",
    "pull busybox",
    "pull -q busybox:latest",
    "push registry/busybox",
    "login -u me --password-stdin registry",
    "logout registry",
    "rmi busybox",
    "rmi -f busybox other",
    "tag busybox mine:1",
    "load -i x.tar",
    "save -o x.tar busybox",
    "import x.tar img",
    "build -t img .",
    "build -f Dockerfile --build-arg A=1 .",
    "history busybox",
    "cp web:/etc/hosts .",
    "diff web",
    "export -o x.tar web",
    "commit web img",
    "network ls",
    "network create net1",
    "network rm net1",
    "network inspect net1",
    "network",
    "volume ls",
    "volume create v1",
    "volume rm -f v1",
    "volume prune -f",
    "volume prune -a -f --filter label!=keep",
    "system df",
    "system prune -af",
    "system info",
    "plugin ls",
    "info",
    "version",
    "version --format '{{.Client.Version}}'",
    "events --since 1m",
    "events --filter type=container -f event=die --format '{{.Actor.ID}}'",
    "builder prune -f",
    "ps 5",
    "ps -5",
    "run busybox -5",
    "run busybox -.5 '-1 2'",
    "run -e '-x y' busybox",
    "exec web '-c foo'",
    "logs -- web",
    "ps --=x",
    "ps -",
    "run - busybox",
]


def _normal(namespace: Any) -> dict[str, Any]:
    values = dict(vars(namespace))
    if values.get("group_parser") is not None:
        values["group_parser"] = values["group_parser"].prog
    return values


def _argparse(argv: list[str], only: str | None, then: str | None) -> dict[str, Any] | None:
    """argparse's namespace, or None when argparse fails or leaves extras."""
    parser = build_parser(only=only, then=then)
    try:
        args, extra = parser.parse_known_args(argv)
    except (UsageError, SystemExit):
        return None
    return None if extra else _normal(args)


def _check(line: str, *, whole: bool) -> bool:
    """Compare the fast parser with argparse; True when the fast parser parsed it."""
    argv = shlex.split(line)
    word, then = command_words(argv)
    if word is None or not builtin(word):
        return False
    only, after = (None, None) if whole else (word, then)
    spec = Spec("pouch")
    define(spec, only=only, then=after)  # type: ignore[arg-type]
    fast = parse(spec, argv)
    if fast is None:
        return False
    assert isinstance(fast, Namespace)
    assert _normal(fast) == _argparse(argv, only, after), line
    return True


@pytest.mark.parametrize("line", CORPUS)
def test_same_as_argparse(line: str) -> None:
    _check(line, whole=False)


def test_same_as_argparse_with_every_command() -> None:
    for line in CORPUS:
        _check(line, whole=True)


@pytest.mark.parametrize(
    "line",
    [
        "ps",
        f"{H} ps",
        "ps -aq",
        "ps --format '{{.ID}}'",
        "container ls",
        "image ls",
        "version",
        "run --rm --network none busybox true",
        "run -d --name web busybox sleep 1000",
        "run -it busybox sh",
        "run -e A=1 -e=B busybox env",
        "run -p 8080:80/udp busybox",
        "run busybox cmd --flag",
        "exec -it web sh",
        "rm -f web",
        "stop -t 30 web",
        "update --pids-limit -1 web",
        "logs -f --tail 10 web",
    ],
)
def test_common_commands_are_parsed_fast(line: str) -> None:
    assert _check(line, whole=False), line


@pytest.mark.parametrize(
    "line",
    [
        "ps --help",
        "ps -h",
        "ps -- -a",
        "ps --fo json",
        "ps -x",
        "ps extra",
        "stop -t x web",
        "inspect --type nope web",
        "rename web",
        "image",
        "container nope",
        "run --rm",
    ],
)
def test_declines(line: str) -> None:
    assert not _check(line, whole=False), line


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        "{{.ID}}",
        "{{.}}",
        "{{}}",
        "{{.A.B}}\t{{.C}}",
        "{{.A.}}",
        "{{..A}}",
        "{{{.ID}}}",
        "{{.ID}}}}",
        "a{{.ID",
        "{{ .ID }}",
        "{{.ID}}{{.X_1}}",
        "{{.1A}}",
        "{{.é}}",
        "}}{{.A}}",
        "{{.A}}{{",
        "{{.A|x}}",
        "{{-.A-}}",
        "{{.A}}\n{{.B}}",
    ],
)
def test_templates_of_fields_compile_as_with_re(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pouch.cli import _template

    fast = _template._fields_only(text)
    monkeypatch.setattr(_template, "_fields_only", lambda text: None)
    if fast is not None:
        assert fast == _template.Template._compile(text)


def _outcome(call: Any, argument: Any) -> str:
    """What ``call(argument)`` gives, or the exception it raises, as text."""
    try:
        return repr(call(argument))
    except Exception as exc:
        return repr(exc)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": [1, 2.5e3, "\\u00e9", NaN, -Infinity, true, null]}',
        b"  [1] \n",
        b"",
        b"[1] x",
        b"\xef\xbb\xbf[1]",
        b'{"a":1,"a":2}',
        b"1e400",
        b'"\xed\xa0\x80"',
        b"\xff",
        '"x"',
        "\ufeff1",
    ],
)
def test_json_is_json(data: bytes | str) -> None:
    import json

    from pouch.cli._jsonc import loads

    assert _outcome(loads, data) == _outcome(json.loads, data)


@pytest.mark.parametrize(
    "value",
    [{"a": [1, 2.5, None, True, "é\u2028"], "b": {"c": -1e300}}, [], 'x"y', 1.0, {1: 2}, {(1,): 2}],
)
def test_json_dumps_is_json(value: Any) -> None:
    import json

    from pouch.cli._jsonc import dumps

    assert _outcome(dumps, value) == _outcome(json.dumps, value)


@pytest.mark.parametrize(
    "name", ["ID", "RunningFor", "CPUPerc", "aB", "NetIO", "éA", "a1B", "LocalVolumes"]
)
def test_header_words_as_re(name: str) -> None:
    import re

    from pouch.cli._template import _words

    assert _words(name) == re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
