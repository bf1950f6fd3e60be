"""A container's streams: wait, logs, attach (the hijacked connection), resize.

Output to a client without a TTY is docker's multiplexed format: each frame is
an 8-byte header (stream 1 stdout or 2 stderr, three zero bytes, big-endian
length) and the bytes; with a TTY it is the raw bytes. Attach may be opened
before the container starts, as ``docker run`` does, and ends when it stops.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from pouch.daemon.api_system import parse_timestamp
from pouch.daemon.http import Hijack, Hijacked, Reply, Request, Response, Stream
from pouch.daemon.routing import Router, flag, int_arg, json_reply, text_arg
from pouch.errors import Conflict, InvalidArgument, NotSupported, PouchError

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon
    from pouch.engine._attach import Attached

__all__ = ["RAW_STREAM", "frame", "routes"]

log = logging.getLogger("pouch.daemon")

routes = Router()

RAW_STREAM = "application/vnd.docker.raw-stream"
_STREAM_IDS = {"stdin": 0, "stdout": 1, "stderr": 2}
_CONDITIONS = ("not-running", "next-exit", "removed")


def frame(stream: str, data: bytes) -> bytes:
    """One frame of docker's multiplexed stream format."""
    return struct.pack(">BxxxL", _STREAM_IDS[stream], len(data)) + data


@routes.route("POST", "/containers/{id}/wait")
async def wait(ctx: Daemon, request: Request) -> Reply:
    condition = text_arg(request, "condition") or "not-running"
    if condition not in _CONDITIONS:
        raise InvalidArgument(f"use one of {', '.join(_CONDITIONS)}", field="condition")
    container = ctx.engine.lookup(request.params["id"])
    result: dict[str, Any] = {}
    done = anyio.Event()
    scope = anyio.CancelScope()

    async def run(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with scope:
            try:
                task_status.started()
                result["StatusCode"] = await ctx.engine.wait(container.id, condition)  # type: ignore[arg-type]
            except PouchError as exc:
                result["Error"] = exc.message
            except Exception as exc:  # a bug: reported to the client, the daemon goes on
                log.exception("waiting for container %s failed", container.short_id)
                result["Error"] = f"internal error: {type(exc).__name__}: {exc}"
            finally:
                done.set()

    # The engine subscribes to the container's events before this answers, so
    # a start that follows the response headers (docker run) is never missed.
    await ctx.task_group.start(run)

    async def produce() -> AsyncIterator[bytes]:
        try:
            await done.wait()
        finally:
            scope.cancel()
        error = {"Message": result["Error"]} if "Error" in result else None
        yield json_reply({"StatusCode": result.get("StatusCode", -1), "Error": error}).body

    return Stream(produce())


def _tail(request: Request) -> int | None:
    text = text_arg(request, "tail", "all").strip()
    if text in ("", "all"):
        return None
    if not text.lstrip("-").isdigit():
        raise InvalidArgument(f"{text!r} is not a number or 'all'", field="tail")
    return max(0, int(text)) if int(text) >= 0 else None


@routes.route("GET", "/containers/{id}/logs")
async def logs(ctx: Daemon, request: Request) -> Reply:
    stdout, stderr = flag(request, "stdout"), flag(request, "stderr")
    if not (stdout or stderr):
        raise InvalidArgument("choose at least one stream: stdout or stderr", field="stdout")
    container = ctx.engine.lookup(request.params["id"])
    records = ctx.engine.logs(
        container.id,
        follow=flag(request, "follow"),
        since=parse_timestamp(text_arg(request, "since"), "since"),
        until=parse_timestamp(text_arg(request, "until"), "until"),
        tail=_tail(request),
    )
    timestamps = flag(request, "timestamps")
    tty = container.config.tty
    wanted = {name for name, on in (("stdout", stdout), ("stderr", stderr)) if on}

    async def produce() -> AsyncIterator[bytes]:
        async for record in records:
            if record.stream not in wanted:
                continue
            data = record.message if record.partial else record.message + b"\n"
            if timestamps:
                data = record.stamp.encode() + b" " + data
            yield data if tty else frame(record.stream, data)

    return Stream(produce(), content_type=RAW_STREAM)


DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q


def detach_keys_arg(request: Request) -> bytes:
    """docker's ``detachKeys`` ("ctrl-p,ctrl-q", "ctrl-x,x"); the default when absent."""
    text = text_arg(request, "detachKeys")
    if not text:
        return DEFAULT_DETACH_KEYS
    keys = bytearray()
    for part in text.split(","):
        part = part.strip().lower()
        if part.startswith("ctrl-") and len(part) == 6 and "a" <= part[5] <= "z":
            keys.append(ord(part[5]) - ord("a") + 1)
        elif part.startswith("ctrl-") and part[5:] in ("@", "[", "\\", "]", "^", "_"):
            keys.append(ord(part[5]) - 64)
        elif len(part) == 1:
            keys.append(ord(part))
        else:
            raise InvalidArgument(f"invalid detach key {part!r}", field="detachKeys")
    return bytes(keys)


async def pump_stdin(
    raw: Hijacked,
    write: Any,
    close: Any,
    label: str,
    *,
    detach_keys: bytes = b"",
    close_on_eof: bool = True,
) -> bool:
    """Client bytes → ``write``; True when the client typed ``detach_keys``.

    The detach sequence is held back and never reaches the process; a detach
    leaves its stdin open. End of input closes it only with ``close_on_eof``
    (an exec's own stdin, or a container created with StdinOnce).
    """
    usable = True
    held = b""
    while True:
        data = await raw.receive()
        try:
            if not data:
                if usable and close_on_eof:
                    await close()
                return False
            detached = False
            if detach_keys:
                data = held + data
                where = data.find(detach_keys)
                if where >= 0:
                    data, detached = data[:where], True
                    held = b""
                else:
                    # Keep back a tail that could begin the sequence.
                    keep = next(
                        (
                            n
                            for n in range(len(detach_keys) - 1, 0, -1)
                            if data.endswith(detach_keys[:n])
                        ),
                        0,
                    )
                    data, held = (data[:-keep], data[-keep:]) if keep else (data, b"")
            if usable and data:
                await write(data)
            if detached:
                return True
        except (
            NotSupported,
            Conflict,
            OSError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        ) as exc:
            # No stdin to write to (the runtime has none, or the process
            # already ended): the input is dropped, the output goes on.
            log.info("%s: stdin is discarded: %s", label, exc)
            usable = False


@routes.route("POST", "/containers/{id}/attach")
async def attach(ctx: Daemon, request: Request) -> Reply:
    container = ctx.engine.lookup(request.params["id"])
    want_stdin = flag(request, "stdin")
    wanted = {name for name in ("stdout", "stderr") if flag(request, name)}
    stream, with_logs = flag(request, "stream"), flag(request, "logs")
    tty = container.config.tty
    engine = ctx.engine
    keys = detach_keys_arg(request)

    def encode(name: str, data: bytes) -> bytes:
        return data if tty else frame(name, data)

    async def run(raw: Hijacked) -> None:
        if not stream:
            if with_logs:
                async for record in engine.logs(container.id):
                    if record.stream in wanted:
                        data = record.message if record.partial else record.message + b"\n"
                        await raw.send(encode(record.stream, data))
            return
        async with engine.attach(container.id, stdin=want_stdin, logs=with_logs) as attached:
            await _relay(
                attached,
                raw,
                wanted,
                encode,
                stdin=want_stdin,
                label=container.short_id,
                detach_keys=keys,
                stdin_once=container.config.stdin_once,
            )

    return Hijack(run, content_type=RAW_STREAM)


async def _relay(
    attached: Attached,
    raw: Hijacked,
    wanted: set[str],
    encode: Any,
    *,
    stdin: bool,
    label: str,
    detach_keys: bytes,
    stdin_once: bool,
) -> None:
    async with anyio.create_task_group() as tg:
        if stdin:

            async def pump() -> None:
                if await pump_stdin(
                    raw,
                    attached.write,
                    attached.close_stdin,
                    f"attach {label}",
                    detach_keys=detach_keys,
                    close_on_eof=stdin_once,
                ):
                    tg.cancel_scope.cancel()  # detached: the container goes on

            tg.start_soon(pump)
        # Ends when the container stops, or when its log goes with it (AutoRemove).
        async for name, data in attached.output():
            if name in wanted:
                await raw.send(encode(name, data))
        tg.cancel_scope.cancel()


def size_args(request: Request) -> tuple[int, int]:
    height, width = int_arg(request, "h", 0) or 0, int_arg(request, "w", 0) or 0
    for name, value in (("h", height), ("w", width)):
        if not 0 <= value <= 65535:
            raise InvalidArgument("must be between 0 and 65535", field=name)
    return height, width


@routes.route("POST", "/containers/{id}/resize")
async def resize(ctx: Daemon, request: Request) -> Reply:
    height, width = size_args(request)
    async with ctx.engine.attach(request.params["id"]) as attached:
        await attached.resize(height, width)
    return Response(200, b"", content_type="text/plain")
