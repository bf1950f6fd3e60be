"""The gRPC server of the CRI's two services, on a unix socket.

This module, and through it grpc, protobuf and the services' modules, is
imported when the first client connects to the CRI socket (``_socket``), not
at pouchd's start: a daemon that never meets a kubelet does not carry them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import grpc

from pouch.engine import Engine

from ._containers import ContainerService
from ._grpc import handler
from ._images import ImageService
from ._objects import CriObjects
from ._pb import api_pb2 as pb
from ._pods import PodService
from ._runtime import RuntimeService
from ._sessions import SessionService
from ._stats import StatsService
from ._streaming import StreamServer

__all__ = ["GrpcServer", "runtime_service"]

log = logging.getLogger("pouch.cri")
# grpc's event-loop bookkeeping logs a line per call at DEBUG: pouchd --log-level
# debug is for pouch's own lines.
logging.getLogger("grpc._cython.cygrpc").setLevel(logging.INFO)

_GRACE = 2.0


def runtime_service(engine: Engine, streams: StreamServer) -> list[object]:
    """The parts that answer ``runtime.v1.RuntimeService`` together."""
    objects = CriObjects(engine)
    return [
        RuntimeService(engine),
        PodService(objects),
        ContainerService(objects),
        StatsService(objects),
        SessionService(objects, streams),
    ]


class GrpcServer:
    """``runtime.v1.RuntimeService`` and ``ImageService`` of ``engine``, started on ``path``."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    @classmethod
    async def start(cls, engine: Engine, streams: StreamServer, path: Path) -> GrpcServer:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            (
                handler("runtime.v1.RuntimeService", runtime_service(engine, streams), pb),
                handler("runtime.v1.ImageService", [ImageService(engine)], pb),
            )
        )
        path.unlink(missing_ok=True)
        server.add_insecure_port(f"unix://{path}")
        with anyio.CancelScope(shield=True):  # a start cut short leaves grpc unstoppable
            await server.start()
        return cls(server)

    async def stop(self) -> None:
        """Let calls in flight finish for a moment, then end them."""
        with anyio.CancelScope(shield=True):
            try:
                await self._server.stop(_GRACE)
            except Exception:  # grpc's loop state after a start cut short
                log.debug("stopping the CRI gRPC server failed", exc_info=True)
