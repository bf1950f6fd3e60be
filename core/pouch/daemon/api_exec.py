"""``exec``: create a session, start it (hijacked like attach, or detached), inspect, resize.

docker splits an exec in two requests; the session between them, and its exit
code after, live in the daemon's memory (``Daemon.execs``) — the engine only
runs processes. A process whose client went away still runs to its end, so
``exec inspect`` reports its exit code.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import anyio
import msgspec

from pouch.daemon import docker_types as dt
from pouch.daemon.api_container_io import RAW_STREAM, frame, pump_stdin, size_args
from pouch.daemon.context import ExecSession
from pouch.daemon.http import Hijack, Hijacked, Reply, Request, Response
from pouch.daemon.routing import Router, decode_body, json_reply
from pouch.daemon.translate import exec_config
from pouch.errors import Conflict, NoSuchObject, NotSupported, PouchError
from pouch.executables import CannotExecute
from pouch.models import State

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon
    from pouch.drivers import ExecProcess

__all__ = ["routes"]

log = logging.getLogger("pouch.daemon")

routes = Router()


def _session(ctx: Daemon, exec_id: str) -> ExecSession:
    session = ctx.execs.get(exec_id)
    if session is None:
        raise NoSuchObject(f"no such exec instance: {exec_id}")
    return session


@routes.route("POST", "/containers/{id}/exec")
async def create(ctx: Daemon, request: Request) -> Reply:
    body = await decode_body(request, dt.ExecCreate)
    config = exec_config(body)
    container = ctx.engine.lookup(request.params["id"])
    if container.state.status != State.RUNNING:
        raise Conflict(f"container {container.name} is {container.state.status}, not running")
    session = ExecSession(container.id, config, stdout=body.AttachStdout, stderr=body.AttachStderr)
    ctx.add_exec(session)
    return json_reply({"Id": session.id}, 201)


async def _finish(session: ExecSession, proc: ExecProcess) -> None:
    """Drain what nobody reads any more and record the exit code."""
    try:
        async for _ in proc.output():
            pass
        session.finish(await proc.wait())
    except Exception:
        log.exception("exec %s: collecting its exit failed", session.id[:12])
        session.finish(-1)
    finally:
        with anyio.CancelScope(shield=True):
            await proc.aclose()


async def _begin(ctx: Daemon, session: ExecSession) -> ExecProcess:
    try:
        _, proc = await ctx.engine.exec(session.container_id, session.config)
    except BaseException:
        session.state = "created"
        raise
    session.process = proc
    if session.size is not None and session.config.tty:
        with contextlib.suppress(NotSupported):
            await proc.resize(*session.size)
    if not session.config.stdin and not session.config.tty:
        # A terminal's end of input would be a ^D typed into it, which the
        # terminal may echo into the output; docker leaves it open, unread.
        await proc.close_stdin()
    return proc


@routes.route("POST", "/exec/{id}/start")
async def start(ctx: Daemon, request: Request) -> Reply:
    session = _session(ctx, request.params["id"])
    raw_body = await request.body()
    body = msgspec.json.decode(raw_body, type=dt.ExecStart) if raw_body.strip() else dt.ExecStart()
    if session.state != "created":
        raise Conflict(f"exec {session.id[:12]} has already been started")
    container = ctx.engine.lookup(session.container_id)
    if container.state.status != State.RUNNING:
        raise Conflict(f"container {container.name} is {container.state.status}, not running")
    session.state = "running"
    if body.Detach:
        proc = await _begin(ctx, session)
        ctx.task_group.start_soon(_finish, session, proc)
        return Response(200, b"", content_type="text/plain")
    tty = session.config.tty or body.Tty
    wanted = {n for n, on in (("stdout", session.stdout), ("stderr", session.stderr)) if on}

    async def run(raw: Hijacked) -> None:
        # Started only now, after the 101: a client reading the raw socket
        # behind its HTTP parser (docker-py) would lose output sent with the
        # headers. An error from here on is written into the stream.
        try:
            proc = await _begin(ctx, session)
        except PouchError as exc:
            session.finish(exc.exit_code if isinstance(exc, CannotExecute) else 126)
            await raw.send(_error(exc.message, tty))
            return
        finished = False
        try:
            async with anyio.create_task_group() as tg:
                if session.config.stdin:
                    tg.start_soon(
                        pump_stdin,
                        raw,
                        proc.write,
                        proc.close_stdin,
                        f"exec {session.id[:12]}",
                    )
                async for name, data in proc.output():
                    if name in wanted:
                        await raw.send(data if tty else frame(name, data))
                session.finish(await proc.wait())
                finished = True
                tg.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await proc.aclose()
        finally:
            if not finished:
                ctx.task_group.start_soon(_finish, session, proc)

    return Hijack(run, content_type=RAW_STREAM)


def _error(message: str, tty: bool) -> bytes:
    data = f"{message}\r\n".encode()
    return data if tty else frame("stderr", data)


@routes.route("GET", "/exec/{id}/json")
async def inspect(ctx: Daemon, request: Request) -> Reply:
    session = _session(ctx, request.params["id"])
    config = session.config
    return json_reply(
        {
            "ID": session.id,
            "Running": session.state == "running",
            "ExitCode": session.exit_code,
            "ProcessConfig": {
                "tty": config.tty,
                "entrypoint": config.cmd[0],
                "arguments": config.cmd[1:],
                "privileged": config.privileged,
                "user": config.user,
            },
            "OpenStdin": config.stdin,
            "OpenStderr": session.stderr,
            "OpenStdout": session.stdout,
            "CanRemove": False,
            "ContainerID": session.container_id,
            "DetachKeys": "",
            "Pid": 0,
        }
    )


@routes.route("POST", "/exec/{id}/resize")
async def resize(ctx: Daemon, request: Request) -> Reply:
    height, width = size_args(request)
    session = _session(ctx, request.params["id"])
    if session.state == "exited":
        raise Conflict(f"exec {session.id[:12]} is not running")
    session.size = (height, width)
    if session.process is not None and session.config.tty:
        try:
            await session.process.resize(height, width)
        except NotSupported as exc:
            log.debug("exec %s: resize ignored: %s", session.id[:12], exc)
    return Response(200, b"", content_type="text/plain")
