"""Network endpoints: the built-in ``host`` and ``none`` (one network per network
driver a plugin registers under a network's name, ``bridge`` with pouch-cni),
and user-defined networks made by a driver's ``create_network``.

The engine has no network records yet, so the daemon keeps those of
user-defined networks (``Daemon.networks``). A driver's refusal is answered
with 400 and its own message. Connecting a container after it was created
needs an engine operation that does not exist yet: 400 saying so.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from pouch.daemon import docker_types as dt
from pouch.daemon.container_views import rfc3339
from pouch.daemon.context import NetworkRecord
from pouch.daemon.http import Reply, Request, Response
from pouch.daemon.routing import Router, decode_body, filters_arg, json_reply
from pouch.errors import Conflict, InvalidArgument, NoSuchObject, NotSupported, PouchError
from pouch.models import State

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes"]

routes = Router()

_FILTERS = frozenset({"name", "id", "driver", "type", "label"})


class Forbidden(PouchError):
    status = 403


def _builtin_id(name: str) -> str:
    return hashlib.sha256(f"pouch-network:{name}".encode()).hexdigest()


def _records(ctx: Daemon) -> list[NetworkRecord]:
    builtins = [
        NetworkRecord(id=_builtin_id(name), name=name, driver=name, created=ctx.started_at)
        for name in ctx.engine.kernel.networks.names()
        if name not in ctx.networks
    ]
    return builtins + list(ctx.networks.values())


def _find(ctx: Daemon, ref: str) -> NetworkRecord:
    records = _records(ctx)
    for record in records:
        if ref in (record.name, record.id):
            return record
    matches = [r for r in records if r.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidArgument(f"network id prefix {ref!r} is ambiguous", field="id")
    raise NoSuchObject(f"no such network: {ref}")


def _users(ctx: Daemon, name: str) -> dict[str, Any]:
    users: dict[str, Any] = {}
    for container in ctx.engine.list(all=True):
        if name not in container.config.networks:
            continue
        if container.state.status not in (State.RUNNING, State.PAUSED):
            continue
        attachment = next((a for a in container.attachments if a.network == name), None)
        users[container.id] = {
            "Name": container.name,
            "EndpointID": attachment.interface if attachment else "",
            "MacAddress": attachment.mac if attachment else "",
            "IPv4Address": attachment.ips[0] if attachment and attachment.ips else "",
            "IPv6Address": "",
        }
    return users


def _view(ctx: Daemon, record: NetworkRecord, *, users: bool) -> dict[str, Any]:
    return {
        "Name": record.name,
        "Id": record.id,
        "Created": rfc3339(record.created),
        "Scope": "local",
        "Driver": record.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": _users(ctx, record.name) if users else {},
        "Options": dict(record.options),
        "Labels": dict(record.labels),
    }


def _label_matches(labels: dict[str, str], spec: str) -> bool:
    key, sep, value = spec.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _matches(ctx: Daemon, record: NetworkRecord, filters: dict[str, list[str]]) -> bool:
    kind = "custom" if record.name in ctx.networks else "builtin"
    for key, values in filters.items():
        if key not in _FILTERS:
            raise InvalidArgument(f"invalid filter {key!r}", field="filters")
        if key == "name":
            found = any(v in record.name for v in values)
        elif key == "id":
            found = any(record.id.startswith(v) for v in values)
        elif key == "driver":
            found = record.driver in values
        elif key == "type":
            found = kind in values
        else:
            found = any(_label_matches(record.labels, v) for v in values)
        if not found:
            return False
    return True


@routes.route("GET", "/networks")
async def list_networks(ctx: Daemon, request: Request) -> Reply:
    filters = filters_arg(request)
    found = [r for r in _records(ctx) if _matches(ctx, r, filters)]
    return json_reply([_view(ctx, r, users=False) for r in found])


@routes.route("GET", "/networks/{id}")
async def inspect(ctx: Daemon, request: Request) -> Reply:
    return json_reply(_view(ctx, _find(ctx, request.params["id"]), users=True))


@routes.route("POST", "/networks/create")
async def create(ctx: Daemon, request: Request) -> Reply:
    body = await decode_body(request, dt.NetworkCreate)
    if any(r.name == body.Name for r in _records(ctx)):
        raise Conflict(f"network with name {body.Name} already exists")
    driver = ctx.engine.kernel.networks.get(body.Driver or "bridge")
    options = dict(body.Options or {})
    for index, pool in enumerate((body.IPAM.Config if body.IPAM else None) or []):
        for key, value in (
            ("subnet", pool.Subnet),
            ("gateway", pool.Gateway),
            ("ip_range", pool.IPRange),
        ):
            if value:
                options[key if index == 0 else f"{key}.{index}"] = value
    try:
        await driver.create_network(body.Name, options)
    except (Conflict, InvalidArgument):
        raise
    except PouchError as exc:
        raise InvalidArgument(f"network driver {driver.name}: {exc.message}") from exc
    record = NetworkRecord(
        id=_builtin_id(f"{body.Name}:{time.time_ns()}"),
        name=body.Name,
        driver=driver.name,
        created=time.time(),
        options=options,
        labels=dict(body.Labels or {}),
    )
    ctx.save_network(record)
    ctx.engine.events.publish(
        "network", "create", record.id, {"name": record.name, "type": record.driver}
    )
    return json_reply({"Id": record.id, "Warning": ""}, 201)


async def _remove(ctx: Daemon, record: NetworkRecord) -> None:
    if record.name not in ctx.networks:
        raise Forbidden(f"{record.name} is a pre-defined network and cannot be removed")
    if _users(ctx, record.name):
        raise Conflict(f"network {record.name} has active endpoints")
    await ctx.engine.kernel.networks.get(record.driver).remove_network(record.name)
    ctx.drop_network(record.name)
    ctx.engine.events.publish("network", "destroy", record.id, {"name": record.name})


@routes.route("DELETE", "/networks/{id}")
async def remove(ctx: Daemon, request: Request) -> Reply:
    await _remove(ctx, _find(ctx, request.params["id"]))
    return Response(204)


@routes.route("POST", "/networks/prune")
async def prune(ctx: Daemon, request: Request) -> Reply:
    filters = filters_arg(request)
    deleted = []
    for record in list(ctx.networks.values()):
        if _matches(ctx, record, filters) and not _users(ctx, record.name):
            await _remove(ctx, record)
            deleted.append(record.name)
    return json_reply({"NetworksDeleted": deleted})


async def _connect_common(ctx: Daemon, request: Request, kind: type[Any]) -> None:
    _find(ctx, request.params["id"])
    body = await decode_body(request, kind)
    ctx.engine.lookup(body.Container)
    raise NotSupported(
        "connecting or disconnecting an existing container needs engine support that pouch "
        "does not have yet; give the network when creating the container (--network)"
    )


@routes.route("POST", "/networks/{id}/connect")
async def connect(ctx: Daemon, request: Request) -> Reply:
    await _connect_common(ctx, request, dt.NetworkConnect)
    return Response(200)


@routes.route("POST", "/networks/{id}/disconnect")
async def disconnect(ctx: Daemon, request: Request) -> Reply:
    await _connect_common(ctx, request, dt.NetworkDisconnect)
    return Response(200)
