"""Swarm mode, which pouchd does not run: every swarm endpoint answers as a dockerd
that is not part of a swarm (503), so ``docker node ls`` and friends say so.

``/swarm``, ``/nodes``, ``/services``, ``/tasks``, ``/secrets``, ``/configs``
and every path under them, whatever the method; nothing reaches the engine.
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
_ROOTS = ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs")
_METHODS = ("GET", "POST", "PUT", "DELETE")


async def not_in_swarm(ctx: Daemon, request: Request) -> Reply:
    return error_reply(503, NOT_IN_SWARM)


for _root in _ROOTS:
    for _method in _METHODS:
        routes.route(_method, _root)(not_in_swarm)
        routes.route(_method, _root + "/{rest:path}")(not_in_swarm)
