"""Disk usage and the cache prune: ``GET /system/df``, ``POST /build/prune``.

Translation only: ``engine.disk``'s report in docker's shape (image and
container summaries with their sizes, volumes with ``UsageData``). pouch
keeps no build cache, so its prune answers as a dockerd with nothing cached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from pouch.daemon.api_images import familiar
from pouch.daemon.container_views import rfc3339, summary_view
from pouch.daemon.http import Reply, Request
from pouch.daemon.routing import Router, filters_arg, json_reply

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon
    from pouch.engine._usage import ContainerUsage, ImageUsage, VolumeUsage

__all__ = ["routes"]

routes = Router()


def _image(usage: ImageUsage) -> dict[str, Any]:
    image = usage.image
    return {
        "Id": image.id,
        "ParentId": "",
        "RepoTags": [familiar(n) for n in image.names] or ["<none>:<none>"],
        "RepoDigests": [familiar(d) for d in image.digests] or ["<none>@<none>"],
        "Created": int(image.created),
        "Size": usage.size,
        "SharedSize": usage.shared_size,
        "VirtualSize": usage.size,
        "Labels": dict(image.config.labels or {}),
        "Containers": usage.containers,
    }


def _container(usage: ContainerUsage, network_ids: dict[str, str]) -> dict[str, Any]:
    view: dict[str, Any] = msgspec.to_builtins(
        summary_view(usage.container, network_ids=network_ids)
    )
    view["SizeRw"] = usage.size_rw
    view["SizeRootFs"] = usage.size_root_fs
    return view


def _volume(usage: VolumeUsage) -> dict[str, Any]:
    info = usage.volume
    return {
        "Name": info.name,
        "Driver": info.driver,
        "Mountpoint": info.mountpoint,
        "CreatedAt": rfc3339(info.created_at),
        "Labels": dict(info.labels),
        "Scope": "local",
        "Options": dict(info.options),
        "UsageData": {"Size": usage.size, "RefCount": usage.ref_count},
    }


@routes.route("GET", "/system/df")
async def df(ctx: Daemon, request: Request) -> Reply:
    report = await ctx.engine.disk.df()
    network_ids = {network.name: network.id for network in ctx.engine.networks.list()}
    return json_reply(
        {
            "LayersSize": report.layers_size,
            "Images": [_image(u) for u in report.images],
            "Containers": [_container(u, network_ids) for u in report.containers],
            "Volumes": [_volume(u) for u in report.volumes],
            "BuildCache": [],
        }
    )


@routes.route("POST", "/build/prune")
async def build_prune(ctx: Daemon, request: Request) -> Reply:
    filters_arg(request)  # malformed filters are still a 400
    return json_reply({"CachesDeleted": None, "SpaceReclaimed": 0})
