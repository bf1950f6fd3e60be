"""A container's streams: ``logs``, ``exec`` and ``attach``."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable

from pouch.cli._errors import CLIError, UsageError
from pouch.cli._http import Client
from pouch.cli._parse import parse_detach_keys, resolve_env
from pouch.cli._parse_time import parse_timestamp
from pouch.cli._run import attached_session
from pouch.cli._session import DEFAULT_DETACH_KEYS, pump
from pouch.cli._streams import Demuxer
from pouch.cli._terminal import RawTerminal, WindowWatcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import TextIO

__all__ = ["attach", "exec_", "logs"]


def _writer(stream: TextIO) -> Callable[[bytes], None]:
    buffer = stream.buffer

    def write(data: bytes) -> None:
        buffer.write(data)
        buffer.flush()

    return write


def logs(args: argparse.Namespace, client: Client) -> int:
    info = client.get(f"/containers/{args.container}/json") or {}
    tty = bool((info.get("Config") or {}).get("Tty"))
    if args.tail != "all" and not args.tail.lstrip("-").isdigit():
        raise UsageError(f"invalid --tail {args.tail!r}: a number of lines, or all")
    query = {
        "stdout": True,
        "stderr": True,
        "follow": args.follow or None,
        "timestamps": args.timestamps or None,
        "tail": args.tail,
        "since": parse_timestamp(args.since) if args.since else None,
        "until": parse_timestamp(args.until) if args.until else None,
    }
    response = client.request("GET", f"/containers/{args.container}/logs", query=query)
    out, err = _writer(sys.stdout), _writer(sys.stderr)
    multiplexed = "multiplexed" in response.header("Content-Type") or not tty
    demux = Demuxer(out, err) if multiplexed else None
    for chunk in response.chunks():
        if demux is None:
            out(chunk)
        else:
            demux.feed(chunk)
    return 0


def exec_(args: argparse.Namespace, client: Client) -> int:
    if not args.command:
        raise UsageError("exec needs a command to run\nSee 'pouch exec --help'.")
    if args.tty and args.interactive and not args.detach and not os.isatty(0):
        raise UsageError("the input device is not a TTY (drop -t, or run from a terminal)")
    attach = not args.detach
    body = {
        "AttachStdin": args.interactive and attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Tty": args.tty,
        "Env": resolve_env(args.env, os.environ) or None,
        "Cmd": args.command,
        "User": args.user or None,
        "WorkingDir": args.workdir or None,
        "Privileged": args.privileged or None,
    }
    body = {key: value for key, value in body.items() if value is not None}
    exec_id = (client.post(f"/containers/{args.container}/exec", json_body=body) or {})["Id"]
    start = {"Detach": args.detach, "Tty": args.tty}
    if args.detach:
        client.request("POST", f"/exec/{exec_id}/start", json_body=start).read()
        return 0
    keys = parse_detach_keys(args.detach_keys) if args.detach_keys else DEFAULT_DETACH_KEYS
    conn = client.hijack(f"/exec/{exec_id}/start", json_body=start)
    raw = args.tty and args.interactive
    size_fd = 1 if os.isatty(1) else 0
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(RawTerminal(0, enabled=raw))
            if args.tty and os.isatty(size_fd):

                def resize(rows: int, columns: int) -> None:
                    query = {"h": rows, "w": columns}
                    client.request("POST", f"/exec/{exec_id}/resize", query=query).read()

                stack.enter_context(WindowWatcher(size_fd, resize))
            detached = pump(
                conn, stdin_fd=0 if args.interactive else None, tty=args.tty, detach_keys=keys
            )
    finally:
        conn.close()
    if detached:
        return 0
    return _exec_status(client, exec_id)


def _exec_status(client: Client, exec_id: str) -> int:
    """The exit code of a finished exec (polled: its stream can end just before it does)."""
    deadline = time.monotonic() + 10
    while True:
        info = client.get(f"/exec/{exec_id}/json") or {}
        if not info.get("Running") or time.monotonic() > deadline:
            code = info.get("ExitCode")
            return int(code) if code is not None else 0
        time.sleep(0.05)


def attach(args: argparse.Namespace, client: Client) -> int:
    info = client.get(f"/containers/{args.container}/json") or {}
    state = info.get("State") or {}
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first")
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first")
    config = info.get("Config") or {}
    keys = parse_detach_keys(args.detach_keys) if args.detach_keys else DEFAULT_DETACH_KEYS
    return attached_session(
        client,
        info.get("Id") or args.container,
        tty=bool(config.get("Tty")),
        stdin=bool(config.get("OpenStdin")) and not args.no_stdin,
        detach_keys=keys,
        start=False,
    )
