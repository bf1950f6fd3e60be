"""``CriServer``: the CRI's two services on a unix socket, as a pouchd service.

The socket is ``[plugin.cri] socket`` (a path or ``unix://`` URL), by default
``cri.sock`` in pouchd's run root (``/run/pouch/cri.sock``). A socket left by
a pouchd that was killed is replaced; the file is removed when the server
stops.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import anyio
import grpc

from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.errors import InvalidArgument

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

__all__ = ["CriServer", "socket_path"]

log = logging.getLogger("pouch.cri")
# grpc's event-loop bookkeeping logs a line per call at DEBUG: pouchd --log-level
# debug is for pouch's own lines.
logging.getLogger("grpc._cython.cygrpc").setLevel(logging.INFO)

_GRACE = 2.0


def socket_path(config: EngineConfig) -> Path:
    setting = str(config.plugin_settings("cri").get("socket", ""))
    if not setting:
        return config.run_root / "cri.sock"
    path = setting.removeprefix("unix://")
    if not path.startswith("/"):
        raise InvalidArgument(f"{setting!r} is not an absolute unix socket path", field="socket")
    return Path(path)


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


def stream_port(config: EngineConfig) -> int:
    value = config.plugin_settings("cri").get("stream_port", 0)
    if not isinstance(value, int) or not 0 <= value < 65536:
        raise InvalidArgument(f"{value!r} is not a TCP port", field="stream_port")
    return value


class CriServer:
    """The gRPC server; ``engine`` is set once the engine has started."""

    name = "cri"

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.engine: Engine | None = None
        self.ready = anyio.Event()

    async def serve(self) -> None:
        engine = self.engine
        if engine is None:  # the engine stopped before its services ran
            return
        streams = StreamServer(engine, stream_port(engine.config))
        async with anyio.create_task_group() as group:
            group.start_soon(streams.serve)
            await streams.ready.wait()
            await self._serve_grpc(engine, streams)
            group.cancel_scope.cancel()

    async def _serve_grpc(self, engine: Engine, streams: StreamServer) -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            (
                handler("runtime.v1.RuntimeService", runtime_service(engine, streams), pb),
                handler("runtime.v1.ImageService", [ImageService(engine)], pb),
            )
        )
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        server.add_insecure_port(f"unix://{self.socket}")
        with anyio.CancelScope(shield=True):  # a start cut short leaves grpc unstoppable
            await server.start()
        self.ready.set()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await server.stop(_GRACE)
                except Exception:  # grpc's loop state after a start cut short
                    log.debug("stopping the CRI gRPC server failed", exc_info=True)
                with contextlib.suppress(OSError):
                    self.socket.unlink()
