"""``run``, ``create`` and ``start``, and the attached session they share with ``attach``.

An attached run follows the docker CLI's order: create; attach (hijacked
connection); ``wait?condition=next-exit`` (``removed`` with ``--rm``), whose
headers come back once pouchd watches the container, so no exit is missed;
start; resize the TTY; move bytes until the stream ends; read the exit code.
``--rm`` is pouchd's AutoRemove; the container is removed here only when it
could not be started.
"""

from __future__ import annotations

import os
import sys

from pouch.cli import _signals
from pouch.cli._common import for_each
from pouch.cli._create import build_create, create_container
from pouch.cli._errors import APIError, CLIError, UsageError
from pouch.cli._http import Client, Response
from pouch.cli._parse import parse_detach_keys
from pouch.cli._session import DEFAULT_DETACH_KEYS, pump

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from types import FrameType
    from typing import Any

__all__ = ["attached_session", "create", "run", "start", "start_container"]

_PROXIED = (
    _signals.SIGINT,
    _signals.SIGTERM,
    _signals.SIGHUP,
    _signals.SIGQUIT,
    _signals.SIGUSR1,
)


def start_container(client: Client, container: str) -> None:
    """Start it; a command that cannot run gets docker's status (127 not found, 126 denied)."""
    try:
        client.request("POST", f"/containers/{container}/start").read()
    except APIError as exc:
        message = exc.message.lower()
        if exc.http_status != 404 and (
            "not found" in message or "no such file" in message or "executable" in message
        ):
            exc.status = 127
        elif "permission denied" in message:
            exc.status = 126
        else:
            exc.status = 125
        raise


def _remove_quietly(client: Client, container: str) -> None:
    try:  # noqa: SIM105 - contextlib costs the start-up
        client.request(
            "DELETE", f"/containers/{container}", query={"v": True, "force": True}
        ).read()
    except CLIError:
        pass


def _proxy_signals(client: Client, container: str) -> dict[int, Any]:
    """Pass Ctrl-C and friends on to the container (docker's --sig-proxy); the
    handlers to put back."""

    def forward(signum: int, frame: FrameType | None) -> None:
        name = _signals.NAMES[signum]
        try:  # noqa: SIM105 - contextlib costs the start-up
            client.request("POST", f"/containers/{container}/kill", query={"signal": name}).read()
        except CLIError:
            pass

    return {signum: _signals.signal(signum, forward) for signum in _PROXIED}


def _restore(handlers: dict[int, Any]) -> None:
    for signum, handler in handlers.items():
        _signals.signal(signum, handler)


def _exit_status(waiter: Response) -> int:
    """The container's exit status, from the answer to the wait sent before start."""
    answer = waiter.json() or {}
    error = (answer.get("Error") or {}).get("Message")
    if error:
        sys.stderr.write(f"Error: {error}\n")
    return int(answer.get("StatusCode", 0))


def _key_names(keys: bytes) -> str:
    """b"\\x10\\x11" → "ctrl-p,ctrl-q": the detach keys as the API spells them."""
    names = []
    for value in keys:
        if 1 <= value <= 26:
            names.append(f"ctrl-{chr(value + 96)}")
        elif value < 32:
            names.append(f"ctrl-{chr(value + 64)}")
        else:
            names.append(chr(value))
    return ",".join(names)


def attached_session(
    client: Client,
    container: str,
    *,
    tty: bool,
    stdin: bool,
    detach_keys: bytes,
    start: bool,
    remove: bool = False,
) -> int:
    """Attach, (start,) pump until the end or a detach, and return the exit status."""
    conn = client.hijack(
        f"/containers/{container}/attach",
        query={
            "stream": True,
            "stdin": stdin,
            "stdout": True,
            "stderr": True,
            "detachKeys": _key_names(detach_keys),
        },
    )
    # pouchd answers the wait's headers once it watches the container, so the
    # exit cannot be missed; with --rm (AutoRemove) it answers after removal.
    condition = "removed" if remove else "next-exit"
    try:
        waiter = client.request(
            "POST", f"/containers/{container}/wait", query={"condition": condition}
        )
    except BaseException:
        conn.close()
        raise
    raw = tty and stdin
    size_fd = 1 if os.isatty(1) else 0
    try:
        if start:
            start_container(client, container)
        if tty:  # the terminal's parts are loaded only for a terminal session
            from contextlib import ExitStack

            from pouch.cli._terminal import RawTerminal, WindowWatcher

            with ExitStack() as stack:
                stack.enter_context(RawTerminal(0, enabled=raw))
                if not raw:
                    stack.callback(_restore, _proxy_signals(client, container))
                if os.isatty(size_fd):

                    def resize(rows: int, columns: int) -> None:
                        query = {"h": rows, "w": columns}
                        path = f"/containers/{container}/resize"
                        client.request("POST", path, query=query).read()

                    stack.enter_context(WindowWatcher(size_fd, resize))
                detached = pump(
                    conn, stdin_fd=0 if stdin else None, tty=tty, detach_keys=detach_keys or None
                )
        else:
            previous = _proxy_signals(client, container)
            try:
                detached = pump(
                    conn, stdin_fd=0 if stdin else None, tty=False, detach_keys=detach_keys or None
                )
            finally:
                _restore(previous)
    except BaseException:
        waiter.close()
        if remove:
            _remove_quietly(client, container)
        raise
    finally:
        conn.close()
    if detached:
        waiter.close()
        return 0
    return _exit_status(waiter)


def create(args: argparse.Namespace, client: Client) -> int:
    query, body = build_create(args, attach=False)
    sys.stdout.write(create_container(client, args, query, body) + "\n")
    return 0


def run(args: argparse.Namespace, client: Client) -> int:
    try:
        return _run(args, client)
    except CLIError as exc:
        if exc.status == 1:
            exc.status = 125  # pouch or pouchd failed, not the container: docker's 125
        raise


def _run(args: argparse.Namespace, client: Client) -> int:
    keys = parse_detach_keys(args.detach_keys) if args.detach_keys else DEFAULT_DETACH_KEYS
    if args.tty and args.interactive and not args.detach and not os.isatty(0):
        raise UsageError("the input device is not a TTY (drop -t, or run from a terminal)")
    query, body = build_create(args, attach=not args.detach)
    container = create_container(client, args, query, body)
    if args.detach:
        start_container(client, container)
        sys.stdout.write(container + "\n")
        return 0
    return attached_session(
        client,
        container,
        tty=args.tty,
        stdin=args.interactive,
        detach_keys=keys,
        start=True,
        remove=args.rm,
    )


def start(args: argparse.Namespace, client: Client) -> int:
    if not (args.attach or args.interactive):
        return for_each(args.containers, lambda name: start_container(client, name))
    if len(args.containers) > 1:
        raise UsageError("you cannot start and attach multiple containers at once")
    name = args.containers[0]
    config = client.get(f"/containers/{name}/json").get("Config") or {}
    keys = parse_detach_keys(args.detach_keys) if args.detach_keys else DEFAULT_DETACH_KEYS
    return attached_session(
        client,
        name,
        tty=bool(config.get("Tty")),
        stdin=bool(args.interactive and config.get("OpenStdin")),
        detach_keys=keys,
        start=True,
    )
