"""Files in and out of containers: ``archive`` (docker cp), ``export``, ``changes`` (diff).

Translation only: the query parameters and the uploaded tar (spooled to a
file under the run root, so a bad one is refused before anything is written)
go to ``engine.files``; its answers come back as docker's headers and tars.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pouch.daemon.http import Reply, Request, Response, Stream
from pouch.daemon.routing import Router, flag, json_reply, spool_body, text_arg
from pouch.errors import InvalidArgument

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon
    from pouch.engine._tar_out import PathStat

__all__ = ["routes"]

routes = Router()

_TAR = "application/x-tar"
_STAT_HEADER = "X-Docker-Container-Path-Stat"


def _path(request: Request) -> str:
    path = text_arg(request, "path")
    if not path:
        raise InvalidArgument("give the path in the container", field="path")
    if "\x00" in path:
        raise InvalidArgument("the path has a NUL byte", field="path")
    return path if path.startswith("/") else "/" + path


def _stat_header(found: PathStat) -> tuple[str, str]:
    return (_STAT_HEADER, base64.b64encode(msgspec.json.encode(found)).decode("ascii"))


@routes.route("GET", "/containers/{id}/archive")
async def get_archive(ctx: Daemon, request: Request) -> Reply:
    path = _path(request)
    if request.method == "HEAD":
        found = await ctx.engine.files.stat(request.params["id"], path)
        return Response(200, headers=[_stat_header(found)])
    found, chunks = await ctx.engine.files.get(request.params["id"], path)
    return Stream(chunks, content_type=_TAR, headers=[_stat_header(found)])


async def _spool(ctx: Daemon, request: Request) -> Path:
    return await spool_body(request, ctx.engine.config.run_root / "uploads")


@routes.route("PUT", "/containers/{id}/archive")
async def put_archive(ctx: Daemon, request: Request) -> Reply:
    path = _path(request)
    ref = request.params["id"]
    ctx.engine.files.container(ref)  # 404 before the upload is read
    source = await _spool(ctx, request)
    try:
        await ctx.engine.files.put(
            ref,
            path,
            source,
            no_overwrite_dir_non_dir=flag(request, "noOverwriteDirNonDir"),
            copy_uid_gid=flag(request, "copyUIDGID"),
        )
    finally:
        source.unlink(missing_ok=True)
    return Response(200)


@routes.route("GET", "/containers/{id}/export")
async def export(ctx: Daemon, request: Request) -> Reply:
    chunks = await ctx.engine.files.export(request.params["id"])
    return Stream(chunks, content_type=_TAR)


@routes.route("GET", "/containers/{id}/changes")
async def changes(ctx: Daemon, request: Request) -> Reply:
    return json_reply(await ctx.engine.files.changes(request.params["id"]))
