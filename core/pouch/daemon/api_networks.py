"""Network endpoints over the engine's networks: list, inspect, create, remove, prune,
connect and disconnect.

The records are the engine's (``Engine.networks``, ``network_connect``, ``network_disconnect``):
``host`` and ``none`` always, the default ``bridge`` and user-defined networks
once a network plugin (pouch-cni) provides their driver. This module owns
docker's shapes and conventions only: IPAM pools become the driver options
``subnet``, ``gateway`` and ``ip_range`` (``.1``, ``.2`` … for further pools)
and are shown back as ``IPAM.Config``; the default driver is ``bridge``;
removing a pre-defined network is 403, as dockerd answers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from pouch.daemon import docker_types as dt
from pouch.daemon._prune import prune_filters
from pouch.daemon._translate_host import docker_endpoint_error, endpoint
from pouch.daemon.container_views import rfc3339
from pouch.daemon.http import Reply, Request, Response
from pouch.daemon.routing import Router, decode_body, filters_arg, json_reply
from pouch.drivers import Endpoint
from pouch.errors import Conflict, InvalidArgument, PouchError
from pouch.models import Container, Network, State

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes"]

routes = Router()

_IPAM_KEYS = {"subnet": "Subnet", "gateway": "Gateway", "ip_range": "IPRange"}
_IPAM_OPTION = re.compile(r"^(subnet|gateway|ip_range)(?:\.(\d+))?$")
# Docker's default driver for ``docker network create``, whatever the default network.
_DEFAULT_DRIVER = "bridge"


class Forbidden(PouchError):
    status = 403


def _running(container: Container) -> bool:
    return container.state.status in (State.RUNNING, State.PAUSED)


def _endpoints(ctx: Daemon, network: Network) -> dict[str, Any]:
    """The containers attached now, with the addresses their attachments got."""
    users: dict[str, Any] = {}
    for container in ctx.engine.list():
        for attachment in container.attachments:
            if attachment.network != network.name or not _running(container):
                continue
            ipv4 = [ip for ip in attachment.ips if ":" not in ip]
            ipv6 = [ip for ip in attachment.ips if ":" in ip]
            users[container.id] = {
                "Name": container.name,
                "EndpointID": attachment.interface,
                "MacAddress": attachment.mac,
                "IPv4Address": ipv4[0] if ipv4 else "",
                "IPv6Address": ipv6[0] if ipv6 else "",
            }
    return users


def _split_options(options: dict[str, str]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The network's options → (docker's IPAM pools, the remaining driver options)."""
    pools: dict[int, dict[str, str]] = {}
    rest: dict[str, str] = {}
    for key, value in options.items():
        match = _IPAM_OPTION.match(key)
        if match is None:
            rest[key] = value
            continue
        pools.setdefault(int(match[2] or 0), {})[_IPAM_KEYS[match[1]]] = value
    return [pools[index] for index in sorted(pools)], rest


def _view(ctx: Daemon, network: Network, *, containers: bool) -> dict[str, Any]:
    pools, options = _split_options(network.options)
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": rfc3339(network.created_at or ctx.started_at),
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": any(":" in pool.get("Subnet", "") for pool in pools),
        "IPAM": {"Driver": "default", "Options": None, "Config": pools},
        "Internal": options.get("internal", "").lower() in ("1", "true", "yes"),
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": _endpoints(ctx, network) if containers else {},
        "Options": options,
        "Labels": dict(network.labels),
    }


@routes.route("GET", "/networks")
async def list_networks(ctx: Daemon, request: Request) -> Reply:
    found = ctx.engine.networks.list(filters_arg(request))
    return json_reply([_view(ctx, n, containers=False) for n in found])


@routes.route("GET", "/networks/{id}")
async def inspect(ctx: Daemon, request: Request) -> Reply:
    return json_reply(_view(ctx, ctx.engine.networks.get(request.params["id"]), containers=True))


def _create_options(body: dt.NetworkCreate) -> dict[str, str]:
    options = dict(body.Options or {})
    for index, pool in enumerate((body.IPAM.Config if body.IPAM else None) or []):
        for key, value in (
            ("subnet", pool.Subnet),
            ("gateway", pool.Gateway),
            ("ip_range", pool.IPRange),
        ):
            if value:
                options[key if index == 0 else f"{key}.{index}"] = value
    if body.Internal:
        options["internal"] = "true"
    return options


@routes.route("POST", "/networks/create")
async def create(ctx: Daemon, request: Request) -> Reply:
    body = await decode_body(request, dt.NetworkCreate)
    network = await ctx.engine.networks.create(
        body.Name,
        driver=body.Driver or _DEFAULT_DRIVER,
        options=_create_options(body),
        labels=dict(body.Labels or {}),
    )
    return json_reply({"Id": network.id, "Warning": ""}, 201)


async def _remove(ctx: Daemon, network: Network) -> None:
    if network.builtin:
        raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
    await ctx.engine.networks.remove(network.name)


@routes.route("DELETE", "/networks/{id}")
async def remove(ctx: Daemon, request: Request) -> Reply:
    await _remove(ctx, ctx.engine.networks.get(request.params["id"]))
    return Response(204)


@routes.route("POST", "/networks/prune")
async def prune(ctx: Daemon, request: Request) -> Reply:
    selection, _ = prune_filters(request)
    return json_reply({"NetworksDeleted": await ctx.engine.networks.prune(**selection)})


def _endpoint(body: dt.NetworkConnect) -> Endpoint | None:
    """The connect body's ``EndpointConfig`` as pouch's ``Endpoint``; 400 naming a bad field."""
    if body.EndpointConfig is None:
        return None
    data = endpoint(body.EndpointConfig, "EndpointConfig")
    try:
        return msgspec.convert(data, Endpoint)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(str(exc).replace("`$", "`$.EndpointConfig")) from None


async def _change(ctx: Daemon, request: Request, *, connect: bool) -> None:
    network = ctx.engine.networks.get(request.params["id"])
    if connect:
        body = await decode_body(request, dt.NetworkConnect)
        settings = _endpoint(body)
        container = ctx.engine.lookup(body.Container)
    else:
        gone = await decode_body(request, dt.NetworkDisconnect)
        container = ctx.engine.lookup(gone.Container)
    try:
        if connect:
            await ctx.engine.network_connect(network.name, container.id, settings)
        else:
            await ctx.engine.network_disconnect(network.name, container.id)
    except InvalidArgument as exc:
        raise docker_endpoint_error(exc, network.name, "EndpointConfig") from None
    except PouchError:
        raise
    except ValueError as exc:
        # The driver cannot join this running container (no namespace of its
        # own to add an interface to): the container's state forbids it.
        raise Conflict(f"container {container.name}: {exc}") from exc


@routes.route("POST", "/networks/{id}/connect")
async def connect(ctx: Daemon, request: Request) -> Reply:
    await _change(ctx, request, connect=True)
    return Response(200)


@routes.route("POST", "/networks/{id}/disconnect")
async def disconnect(ctx: Daemon, request: Request) -> Reply:
    await _change(ctx, request, connect=False)
    return Response(200)
