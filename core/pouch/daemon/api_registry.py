"""Registries asked without pulling: ``GET /images/search``, ``GET /distribution/{name}/json``.

Translation only: ``engine.registry``'s answers in docker's shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from pouch.daemon.http import Reply, Request
from pouch.daemon.routing import Router, filters_arg, int_arg, json_reply, text_arg

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes"]

routes = Router()


@routes.route("GET", "/images/search")
async def search(ctx: Daemon, request: Request) -> Reply:
    filters_arg(request)  # is-official, stars …: nothing in a catalog to filter on
    limit = int_arg(request, "limit", 25)
    assert limit is not None
    found = await ctx.engine.registry.search(text_arg(request, "term"), limit=limit)
    return json_reply(found)


@routes.route("GET", "/distribution/{name:path}/json")
async def distribution(ctx: Daemon, request: Request) -> Reply:
    info = await ctx.engine.registry.inspect(request.params["name"])
    return json_reply(
        {
            "Descriptor": msgspec.to_builtins(info.descriptor),
            "Platforms": msgspec.to_builtins(info.platforms),
        }
    )
