"""Images in and out: pull and import (``/images/create``), push, save (``get``), load.

Pull and push report docker's JSON progress lines as they happen. The
registry client calls back on worker threads; ``anyio.from_thread`` brings
each line to the event loop, into a memory stream the response reads. An error
before the first line is answered with its status (404 for an unknown image,
as docker does); after it, as docker's ``{"errorDetail": …}`` line. Uploaded
tarballs (import, load) are spooled to a file under the run root first: they
may be larger than memory, and the image store reads files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio
import anyio.from_thread
import anyio.lowlevel
import msgspec

from pouch.daemon._streamed import Send, streamed
from pouch.daemon.api_images import familiar, parse_changes, repo_tag
from pouch.daemon.http import Reply, Request, Response, Stream
from pouch.daemon.routing import Router, flag, spool_body, text_arg
from pouch.errors import InvalidArgument, NotSupported

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon
    from pouch.distribution import PullProgress

__all__ = ["routes"]

log = logging.getLogger("pouch.daemon")

routes = Router()

_encoder = msgspec.json.Encoder()
_TAR = "application/x-tar"


def _line(message: dict[str, Any]) -> bytes:
    return _encoder.encode(message) + b"\n"


async def _progress_stream(
    ctx: Daemon, work: Callable[[Callable[[PullProgress], None]], Awaitable[list[str]]]
) -> Reply:
    """Run ``work(progress)``; stream its lines, then the final ``status`` lines it returns."""
    # The registry client calls back from its own download threads, which are
    # not anyio worker threads: they reach the loop through its token.
    token = anyio.lowlevel.current_token()

    async def run(send: Send) -> None:
        def progress(line: PullProgress) -> None:
            anyio.from_thread.run_sync(send.send_nowait, line.to_docker(), token=token)

        for status in await work(progress):
            send.send_nowait({"status": status})

    return await streamed(ctx.task_group, run, "image transfer")


async def _spool(ctx: Daemon, request: Request) -> Path:
    return await spool_body(request, ctx.engine.config.run_root / "uploads")


@routes.route("POST", "/images/create")
async def create(ctx: Daemon, request: Request) -> Reply:
    source = text_arg(request, "fromSrc")
    if source:
        return await _import(ctx, request, source)
    image = text_arg(request, "fromImage")
    if not image:
        raise InvalidArgument("give fromImage (pull) or fromSrc (import)", field="fromImage")
    tag = text_arg(request, "tag")
    reference = repo_tag(image, tag, "fromImage") if tag and "@" not in image else image
    platform = text_arg(request, "platform") or None
    # X-Registry-Auth is not used: the engine pulls with the credentials that
    # ``/auth`` (docker login) stored.

    async def work(progress: Callable[[PullProgress], None]) -> list[str]:
        await ctx.engine.images.pull(reference, platform=platform, progress=progress)
        return []

    return await _progress_stream(ctx, work)


async def _import(ctx: Daemon, request: Request, source: str) -> Reply:
    if source != "-":
        raise NotSupported("importing from a URL is not supported; upload the tarball (fromSrc=-)")
    reference = repo_tag(text_arg(request, "repo"), text_arg(request, "tag"))
    config = parse_changes(request.query.get("changes", []))
    path = await _spool(ctx, request)
    try:
        image = await ctx.engine.images.import_rootfs(path, reference, config=config)
    finally:
        path.unlink(missing_ok=True)
    return Response(200, _line({"status": image.id}))


@routes.route("POST", "/images/{name:path}/push")
async def push(ctx: Daemon, request: Request) -> Reply:
    name = request.params["name"]
    tag = text_arg(request, "tag")
    reference = repo_tag(name, tag, "name") if tag else name
    await ctx.engine.images.inspect(reference)  # 404 before any output

    async def work(progress: Callable[[PullProgress], None]) -> list[str]:
        digest = await ctx.engine.images.push(reference, progress=progress)
        shown = familiar(reference).rpartition(":")[2] if "@" not in reference else "latest"
        return [f"{shown}: digest: {digest}"]

    return await _progress_stream(ctx, work)


async def _save(ctx: Daemon, refs: list[str]) -> Reply:
    if not refs:
        raise InvalidArgument("name at least one image", field="names")
    for ref in refs:
        await ctx.engine.images.inspect(ref)  # 404 before any output
    read_fd, write_fd = os.pipe()

    async def write() -> None:
        try:
            with open(write_fd, "wb") as out:  # noqa: ASYNC230 - a pipe
                await ctx.engine.images.save(refs, out)
        except (BrokenPipeError, OSError):
            pass  # the client went away and the reader closed

    async def produce() -> AsyncIterator[bytes]:
        # The writer runs in the daemon's task group, not in one of ours held
        # across the yield (a client hanging up would leave it to be exited
        # from the wrong task); closing the read end ends it with EPIPE.
        ctx.task_group.start_soon(write)
        with open(read_fd, "rb", buffering=0) as source:  # noqa: ASYNC230 - a pipe
            while chunk := await anyio.to_thread.run_sync(source.read, 65536):
                yield chunk

    return Stream(produce(), content_type=_TAR)


@routes.route("GET", "/images/get")
async def save_many(ctx: Daemon, request: Request) -> Reply:
    return await _save(ctx, request.query.get("names", []))


@routes.route("GET", "/images/{name:path}/get")
async def save_one(ctx: Daemon, request: Request) -> Reply:
    return await _save(ctx, [request.params["name"]])


def _loaded(text: str) -> bytes:
    """One ``docker load`` line, with the name in docker's familiar form."""
    prefix = "Loaded image: "
    if text.startswith(prefix):
        text = prefix + familiar(text[len(prefix) :])
    return _line({"stream": text + "\n"})


@routes.route("POST", "/images/load")
async def load(ctx: Daemon, request: Request) -> Reply:
    quiet = flag(request, "quiet")
    path = await _spool(ctx, request)
    lines: list[bytes] = []
    try:
        with path.open("rb") as source:
            stream: BinaryIO = source
            await ctx.engine.images.load(stream, progress=lambda text: lines.append(_loaded(text)))
    finally:
        path.unlink(missing_ok=True)
    return Response(200, b"" if quiet and not lines else b"".join(lines))
