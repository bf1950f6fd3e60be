"""``CriServer``: the CRI's two services on a unix socket, as a pouchd service.

The socket is ``[plugin.cri] socket`` (a path or ``unix://`` URL), by default
``cri.sock`` in pouchd's run root (``/run/pouch/cri.sock``). It listens from
pouchd's start; the gRPC server behind it starts when the first client
connects (``_socket``), so a pouchd that no kubelet talks to never loads
grpc. A socket left by a pouchd that was killed is replaced; the file is
removed when the server stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.errors import InvalidArgument

from ._socket import CriSocket, Server
from ._streaming import StreamServer

if TYPE_CHECKING:
    from ._grpc_server import GrpcServer

__all__ = ["CriServer", "socket_path", "stream_port"]


def socket_path(config: EngineConfig) -> Path:
    setting = str(config.plugin_settings("cri").get("socket", ""))
    if not setting:
        return config.run_root / "cri.sock"
    path = setting.removeprefix("unix://")
    if not path.startswith("/"):
        raise InvalidArgument(f"{setting!r} is not an absolute unix socket path", field="socket")
    return Path(path)


def stream_port(config: EngineConfig) -> int:
    value = config.plugin_settings("cri").get("stream_port", 0)
    if not isinstance(value, int) or not 0 <= value < 65536:
        raise InvalidArgument(f"{value!r} is not a TCP port", field="stream_port")
    return value


def _load_grpc_server() -> type[GrpcServer]:
    from ._grpc_server import GrpcServer

    return GrpcServer


class CriServer:
    """The CRI socket and streaming server; ``engine`` is set once the engine has started."""

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

        async def start(path: Path) -> Server:
            # grpc and protobuf load with the first client, in a worker thread: the
            # event loop serves everyone else meanwhile.
            grpc_server = await anyio.to_thread.run_sync(_load_grpc_server)
            return await grpc_server.start(engine, streams, path)

        async with anyio.create_task_group() as group:
            group.start_soon(streams.serve)
            await streams.ready.wait()
            await group.start(CriSocket(self.socket, start).serve)
            self.ready.set()
