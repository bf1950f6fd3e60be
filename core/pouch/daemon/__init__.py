"""pouchd: the Docker Engine API (1.41, down to 1.24) over a unix socket.

The layers, bottom up: ``http`` (HTTP/1.1 with h11 on anyio streams, the
connection hijack of attach and exec), ``routing`` (versions, routes, query
and body conventions, errors as ``{"message": ...}``), ``docker_types`` and
``translate`` (docker's JSON ↔ pouch's models), the ``api_*`` modules (one per
group of endpoints, each a thin shell over ``pouch.engine.Engine``),
``context`` (what handlers share), ``server`` and ``listeners``, and ``main``
(the ``pouchd`` program). ``openapi.yaml`` describes the endpoints served.
"""

from __future__ import annotations

from pouch.daemon.context import Daemon
from pouch.daemon.server import Server, build_app

__all__ = ["Daemon", "Server", "build_app"]
