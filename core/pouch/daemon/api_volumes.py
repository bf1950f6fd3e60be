"""Volume endpoints: Docker's volume API translated to the engine's volume calls.

Finding a volume, the in-use check, filters and events are the engine's
(``pouch.engine._volumes``); this module only maps requests and views.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pouch.daemon import docker_types as dt
from pouch.daemon._prune import bool_filter, prune_filters
from pouch.daemon.container_views import rfc3339
from pouch.daemon.http import Reply, Request, Response
from pouch.daemon.routing import Router, decode_body, filters_arg, flag, json_reply
from pouch.drivers import VolumeInfo

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes"]

routes = Router()


def _view(info: VolumeInfo) -> dict[str, Any]:
    return {
        "Name": info.name,
        "Driver": info.driver,
        "Mountpoint": info.mountpoint,
        "CreatedAt": rfc3339(info.created_at),
        "Status": dict(info.status) or None,
        "Labels": dict(info.labels),
        "Scope": "local",
        "Options": dict(info.options),
        "UsageData": None,
    }


@routes.route("GET", "/volumes")
async def list_volumes(ctx: Daemon, request: Request) -> Reply:
    volumes = await ctx.engine.volumes.list(filters_arg(request))
    return json_reply({"Volumes": [_view(v) for v in volumes], "Warnings": []})


@routes.route("POST", "/volumes/create")
async def create(ctx: Daemon, request: Request) -> Reply:
    body = await decode_body(request, dt.VolumeCreate)
    info = await ctx.engine.volumes.create(
        body.Name or "", driver=body.Driver or "", options=body.DriverOpts, labels=body.Labels
    )
    return json_reply(_view(info), 201)


@routes.route("GET", "/volumes/{name}")
async def inspect(ctx: Daemon, request: Request) -> Reply:
    return json_reply(_view(await ctx.engine.volumes.inspect(request.params["name"])))


@routes.route("PUT", "/volumes/{name}")
async def update(ctx: Daemon, request: Request) -> Reply:
    """pouch's own: ``{"Options": {"size": "2GiB"}}`` changes a volume where its driver can."""
    body = await decode_body(request, dt.VolumeUpdate)
    info = await ctx.engine.volumes.update(request.params["name"], body.Options or {})
    return json_reply(_view(info))


@routes.route("DELETE", "/volumes/{name}")
async def remove(ctx: Daemon, request: Request) -> Reply:
    await ctx.engine.volumes.remove(request.params["name"], force=flag(request, "force"))
    return Response(204)


@routes.route("POST", "/volumes/prune")
async def prune(ctx: Daemon, request: Request) -> Reply:
    selection, filters = prune_filters(
        request, also=frozenset({"all"}), without=frozenset({"until"})
    )
    everything = bool_filter(filters["all"], "all") if "all" in filters else True  # API 1.41
    deleted, reclaimed = await ctx.engine.disk.prune_volumes(all=everything, **selection)
    return json_reply({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed})
