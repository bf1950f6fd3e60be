"""Volume endpoints over the engine's volume drivers (``local`` is built in).

A volume is found by asking each driver, the default one first. Whether a
volume is in use comes from the container records, so ``prune`` and
``dangling`` agree with what ``rm -v`` will release.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from pouch.daemon import docker_types as dt
from pouch.daemon.container_views import rfc3339
from pouch.daemon.http import Reply, Request, Response
from pouch.daemon.routing import Router, decode_body, filters_arg, flag, json_reply
from pouch.drivers import VolumeDriver, VolumeInfo
from pouch.errors import Conflict, InvalidArgument, NoSuchObject

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes"]

routes = Router()

_FILTERS = frozenset({"name", "driver", "label", "dangling"})


def _view(info: VolumeInfo) -> dict[str, Any]:
    return {
        "Name": info.name,
        "Driver": info.driver,
        "Mountpoint": info.mountpoint,
        "CreatedAt": rfc3339(info.created_at),
        "Status": None,
        "Labels": dict(info.labels),
        "Scope": "local",
        "Options": dict(info.options),
        "UsageData": None,
    }


def _drivers(ctx: Daemon) -> list[VolumeDriver]:
    default = ctx.engine.config.default_volume_driver
    drivers = list(ctx.engine.kernel.volumes)
    return sorted(drivers, key=lambda d: d.name != default)


async def _find(ctx: Daemon, name: str) -> tuple[VolumeDriver, VolumeInfo]:
    for driver in _drivers(ctx):
        try:
            return driver, await driver.get(name)
        except (NoSuchObject, InvalidArgument):
            continue
    raise NoSuchObject(f"no such volume: {name}")


def _in_use(ctx: Daemon) -> set[str]:
    used: set[str] = set()
    for container in ctx.engine.list(all=True):
        used.update(name for _, name in container.volumes)
        used.update(m.source for m in container.config.mounts if m.type == "volume" and m.source)
    return used


def _matches(info: VolumeInfo, filters: dict[str, list[str]], used: set[str]) -> bool:
    if "name" in filters and not any(v in info.name for v in filters["name"]):
        return False
    if "driver" in filters and info.driver not in filters["driver"]:
        return False
    for spec in filters.get("label", []):
        key, sep, value = spec.partition("=")
        if key not in info.labels or (sep and info.labels[key] != value):
            return False
    for value in filters.get("dangling", []):
        dangling = value.lower() in ("true", "1")
        if dangling == (info.name in used):
            return False
    return True


def _check_filters(filters: dict[str, list[str]], allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter {key!r}", field="filters")


@routes.route("GET", "/volumes")
async def list_volumes(ctx: Daemon, request: Request) -> Reply:
    filters = filters_arg(request)
    _check_filters(filters, _FILTERS)
    used = _in_use(ctx)
    volumes = [info for driver in _drivers(ctx) for info in await driver.list()]
    return json_reply(
        {"Volumes": [_view(v) for v in volumes if _matches(v, filters, used)], "Warnings": []}
    )


@routes.route("POST", "/volumes/create")
async def create(ctx: Daemon, request: Request) -> Reply:
    body = await decode_body(request, dt.VolumeCreate)
    driver = ctx.engine.kernel.volumes.get(body.Driver or ctx.engine.config.default_volume_driver)
    name = body.Name or secrets.token_hex(32)
    info = await driver.create(name, body.DriverOpts or {}, body.Labels or {})
    ctx.engine.events.publish("volume", "create", name, {"driver": driver.name})
    return json_reply(_view(info), 201)


@routes.route("GET", "/volumes/{name}")
async def inspect(ctx: Daemon, request: Request) -> Reply:
    _, info = await _find(ctx, request.params["name"])
    return json_reply(_view(info))


@routes.route("DELETE", "/volumes/{name}")
async def remove(ctx: Daemon, request: Request) -> Reply:
    name = request.params["name"]
    try:
        driver, _ = await _find(ctx, name)
    except NoSuchObject:
        if flag(request, "force"):
            return Response(204)
        raise
    if name in _in_use(ctx):
        raise Conflict(f"volume {name} is in use by a container")
    await driver.remove(name)
    ctx.engine.events.publish("volume", "destroy", name, {"driver": driver.name})
    return Response(204)


@routes.route("POST", "/volumes/prune")
async def prune(ctx: Daemon, request: Request) -> Reply:
    filters = filters_arg(request)
    _check_filters(filters, frozenset({"label"}))
    used = _in_use(ctx)
    deleted = []
    for driver in _drivers(ctx):
        for info in await driver.list():
            if info.name in used or not _matches(info, filters, used):
                continue
            try:
                await driver.remove(info.name)
            except Conflict:
                continue
            deleted.append(info.name)
            ctx.engine.events.publish("volume", "destroy", info.name, {"driver": driver.name})
    return json_reply({"VolumesDeleted": deleted, "SpaceReclaimed": 0})
