"""Swarm mode, which pouchd does not run: every swarm endpoint answers as a dockerd
that is not part of a swarm (503), so ``docker node ls`` and friends say so.

``/swarm``, ``/nodes``, ``/services``, ``/tasks``, ``/secrets``, ``/configs``
and every path under them (with the methods docker uses there); nothing
reaches the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pouch.daemon.http import Reply, Request
from pouch.daemon.routing import Router, error_reply

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["NOT_IN_SWARM", "routes"]

routes = Router()

NOT_IN_SWARM = "This node is not part of a swarm"
# Each root's list, and the methods docker's clients use under it.
_ROOTS = {
    "/swarm": ("GET", "POST"),
    "/nodes": ("GET", "POST", "DELETE"),
    "/services": ("GET", "POST", "DELETE"),
    "/tasks": ("GET",),
    "/secrets": ("GET", "POST", "DELETE"),
    "/configs": ("GET", "POST", "DELETE"),
}


async def not_in_swarm(ctx: Daemon, request: Request) -> Reply:
    return error_reply(503, NOT_IN_SWARM)


for _root, _methods in _ROOTS.items():
    routes.route("GET", _root)(not_in_swarm)
    for _method in _methods:
        routes.route(_method, _root + "/{rest:path}")(not_in_swarm)
