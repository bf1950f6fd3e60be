"""``POST /build``: docker's classic build API, translated to ``Engine.build``.

The body is the build context as a tar (plain or compressed), spooled to a
file and unpacked by the engine; the query's ``t``, ``dockerfile``,
``buildargs``, ``labels``, ``target``, ``nocache``, ``pull``, ``networkmode``
and ``platform`` become a ``BuildRequest``. The answer streams docker's JSON
lines: ``{"stream": …}`` as the builder writes, then ``{"aux": {"ID": …}}``,
``Successfully built``/``Successfully tagged``; a failure after the stream
began is an ``errorDetail`` line, as docker sends it (the docker CLI with
``DOCKER_BUILDKIT=0`` and docker-py print both).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import msgspec

from pouch.builders import BuildRequest
from pouch.daemon._streamed import Send, streamed
from pouch.daemon.http import Reply, Request
from pouch.daemon.routing import Router, flag, json_arg, json_reply, spool_body, text_arg
from pouch.errors import InvalidArgument
from pouch.images import parse_reference

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes"]

routes = Router()


def _json_map(request: Request, name: str) -> dict[str, Any]:
    value = json_arg(request, name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str | None) for v in value.values()):
        raise InvalidArgument("expected a JSON object of strings", field=name)
    return value


def familiar(tag: str) -> str:
    return parse_reference(tag).familiar()


def _request(request: Request, context: Any) -> BuildRequest:
    if text_arg(request, "remote"):
        raise InvalidArgument(
            "a remote build context is not supported: send the context as a tar body",
            field="remote",
        )
    network = text_arg(request, "networkmode")
    return BuildRequest(
        context=context,
        dockerfile=text_arg(request, "dockerfile") or "Dockerfile",
        tags=[t for t in request.query.get("t", []) if t],
        build_args=_json_map(request, "buildargs"),
        labels={k: v or "" for k, v in _json_map(request, "labels").items()},
        target=text_arg(request, "target"),
        no_cache=flag(request, "nocache"),
        pull=flag(request, "pull"),
        network="" if network in ("", "default") else network,
        platform=text_arg(request, "platform"),
    )


class _Lines:
    """The builder's output as docker's ``{"stream": …}`` lines (none with ``q``)."""

    def __init__(self, send: Send, quiet: bool) -> None:
        self._send = send
        self._quiet = quiet

    async def write(self, text: str) -> None:
        if not self._quiet and text:
            await self._send.send({"stream": text})


@routes.route("POST", "/build")
async def build(ctx: Daemon, request: Request) -> Reply:
    quiet = flag(request, "q")
    asked = _request(request, ".")  # a bad query is a 400 before the context is read
    archive = await spool_body(request, ctx.engine.config.run_root / "uploads")

    async def work(send: Send) -> None:
        try:
            async with ctx.engine.build_context(archive) as directory:
                wanted = msgspec.structs.replace(asked, context=directory)
                image_id = await ctx.engine.build(wanted, _Lines(send, quiet))
        finally:
            os.unlink(archive)
        await send.send({"aux": {"ID": image_id}})
        if quiet:
            await send.send({"stream": f"{image_id}\n"})
            return
        await send.send({"stream": f"Successfully built {image_id.removeprefix('sha256:')[:12]}\n"})
        for tag in wanted.tags:
            # As docker says it: the familiar name with its tag (app → app:latest).
            await send.send({"stream": f"Successfully tagged {familiar(tag)}\n"})

    return await streamed(ctx.task_group, work, "build")


@routes.route("POST", "/build/prune")
async def prune(ctx: Daemon, request: Request) -> Reply:
    removed = await ctx.engine.build_prune()
    return json_reply({"CachesDeleted": removed or None, "SpaceReclaimed": 0})
