"""Container endpoints that change or report state: create … remove, list, inspect, prune.

Streams (logs, attach, wait, stats, top) live in ``api_container_io``. Each
handler is a thin shell over one ``Engine`` operation: it reads docker's query
and body conventions, calls the engine, and answers with docker's statuses
(304 when start or stop has nothing to do, 204 when done).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pouch.daemon import docker_types as dt
from pouch.daemon._prune import prune_filters
from pouch.daemon._translate_host import docker_endpoint_error
from pouch.daemon.container_views import inspect_view, summary_view
from pouch.daemon.http import Reply, Request, Response
from pouch.daemon.routing import (
    Router,
    decode_body,
    filters_arg,
    flag,
    int_arg,
    json_reply,
    text_arg,
)
from pouch.daemon.translate import to_container_config, to_resources, to_restart_policy
from pouch.errors import InvalidArgument
from pouch.models import State

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes"]

routes = Router()

_ACTIVE = (State.RUNNING, State.PAUSED, State.RESTARTING)
_NO_CONTENT = Response(204)
_NOT_MODIFIED = Response(304)


def _seconds(request: Request, name: str = "t") -> int | None:
    value = int_arg(request, name)
    if value is not None and value < -1:
        raise InvalidArgument("must be -1 (wait forever) or more", field=name)
    return None if value is None else (2**31 if value == -1 else value)


def _network_ids(ctx: Daemon) -> dict[str, str]:
    return {network.name: network.id for network in ctx.engine.networks.list()}


@routes.route("POST", "/containers/create")
async def create(ctx: Daemon, request: Request) -> Reply:
    name = text_arg(request, "name") or None
    body = await decode_body(request, dt.ContainerCreate)
    config = to_container_config(body)
    try:
        container = await ctx.engine.create(config, name=name)
    except InvalidArgument as exc:
        for network in config.endpoints:
            exc = docker_endpoint_error(exc, network, f"NetworkingConfig.EndpointsConfig.{network}")
        raise exc from None
    return json_reply({"Id": container.id, "Warnings": []}, 201)


@routes.route("GET", "/containers/json")
async def list_containers(ctx: Daemon, request: Request) -> Reply:
    limit = int_arg(request, "limit", 0) or 0
    everything = flag(request, "all") or limit > 0
    found = ctx.engine.list(all=everything, filters=filters_arg(request))
    found.sort(key=lambda c: c.created_at, reverse=True)
    if limit > 0:
        found = found[:limit]
    now, ids = time.time(), _network_ids(ctx)
    return json_reply([summary_view(c, now, network_ids=ids) for c in found])


@routes.route("GET", "/containers/{id}/json")
async def inspect(ctx: Daemon, request: Request) -> Reply:
    container = ctx.engine.lookup(request.params["id"])
    execs = [s.id for s in ctx.execs.values() if s.container_id == container.id]
    return json_reply(inspect_view(container, exec_ids=execs, network_ids=_network_ids(ctx)))


@routes.route("POST", "/containers/{id}/start")
async def start(ctx: Daemon, request: Request) -> Reply:
    container = ctx.engine.lookup(request.params["id"])
    if container.state.status == State.RUNNING:
        return _NOT_MODIFIED
    await ctx.engine.start(container.id)
    return _NO_CONTENT


@routes.route("POST", "/containers/{id}/stop")
async def stop(ctx: Daemon, request: Request) -> Reply:
    timeout = _seconds(request)
    signal = text_arg(request, "signal") or None
    container = ctx.engine.lookup(request.params["id"])
    if container.state.status not in _ACTIVE:
        return _NOT_MODIFIED
    await ctx.engine.stop(container.id, timeout=timeout, signal=signal)
    return _NO_CONTENT


@routes.route("POST", "/containers/{id}/kill")
async def kill(ctx: Daemon, request: Request) -> Reply:
    await ctx.engine.kill(request.params["id"], text_arg(request, "signal") or "SIGKILL")
    return _NO_CONTENT


@routes.route("POST", "/containers/{id}/restart")
async def restart(ctx: Daemon, request: Request) -> Reply:
    await ctx.engine.restart(request.params["id"], timeout=_seconds(request))
    return _NO_CONTENT


@routes.route("POST", "/containers/{id}/pause")
async def pause(ctx: Daemon, request: Request) -> Reply:
    await ctx.engine.pause(request.params["id"])
    return _NO_CONTENT


@routes.route("POST", "/containers/{id}/unpause")
async def unpause(ctx: Daemon, request: Request) -> Reply:
    await ctx.engine.resume(request.params["id"])
    return _NO_CONTENT


@routes.route("POST", "/containers/{id}/rename")
async def rename(ctx: Daemon, request: Request) -> Reply:
    name = text_arg(request, "name")
    if not name:
        raise InvalidArgument("a new name is required", field="name")
    await ctx.engine.rename(request.params["id"], name)
    return _NO_CONTENT


@routes.route("POST", "/containers/{id}/update")
async def update(ctx: Daemon, request: Request) -> Reply:
    body = await decode_body(request, dt.ContainerUpdate)
    resources = to_resources(body, prefix="")
    policy = to_restart_policy(body.RestartPolicy) if body.RestartPolicy is not None else None
    container = ctx.engine.lookup(request.params["id"])
    if policy is not None and policy.name != "no" and container.config.auto_remove:
        # Engine.update takes the policy as it is; ContainerConfig refuses the pair at create.
        raise InvalidArgument(
            "a container that removes itself (AutoRemove) cannot have a restart policy",
            field="RestartPolicy",
        )
    await ctx.engine.update(container.id, resources, restart_policy=policy)
    return json_reply({"Warnings": []})


@routes.route("DELETE", "/containers/{id}")
async def remove(ctx: Daemon, request: Request) -> Reply:
    if flag(request, "link"):
        raise InvalidArgument("links are not supported by pouch", field="link")
    await ctx.engine.remove(
        request.params["id"], force=flag(request, "force"), volumes=flag(request, "v")
    )
    return _NO_CONTENT


@routes.route("POST", "/containers/prune")
async def prune(ctx: Daemon, request: Request) -> Reply:
    selection, _ = prune_filters(request)
    deleted, reclaimed = await ctx.engine.disk.prune_containers(**selection)
    return json_reply({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed})
