"""``Exec``, ``Attach`` and ``PortForward``: checked here, served by the streaming server.

Each call checks what it names (a running container, a ready pod) and the
options, and answers the one-time URL the client upgrades to SPDY or
WebSocket (``_streaming``).
"""

from __future__ import annotations

from typing import Any

from pouch.errors import Conflict, InvalidArgument
from pouch.models import Container, State

from ._objects import CriObjects
from ._pb import api_pb2 as pb
from ._pods import ready
from ._streaming import StreamServer

__all__ = ["SessionService"]


def _check_streams(request: Any) -> None:
    if not (request.stdin or request.stdout or request.stderr):
        raise InvalidArgument("one of stdin, stdout and stderr must be true", field="stdout")
    if request.tty and request.stderr:
        raise InvalidArgument(
            "tty and stderr cannot both be true: a terminal has one output", field="stderr"
        )


def _running(container: Container) -> None:
    if container.state.status != State.RUNNING:
        raise Conflict(f"container {container.id} is not running ({container.state.status})")


class SessionService:
    def __init__(self, objects: CriObjects, streams: StreamServer) -> None:
        self.objects = objects
        self.streams = streams

    async def Exec(self, request: pb.ExecRequest, context: Any) -> pb.ExecResponse:
        container = self.objects.container(request.container_id)
        if not request.cmd:
            raise InvalidArgument("cmd is required", field="cmd")
        _check_streams(request)
        _running(container)
        request.container_id = container.id
        return pb.ExecResponse(url=self.streams.url("exec", request))

    async def Attach(self, request: pb.AttachRequest, context: Any) -> pb.AttachResponse:
        container = self.objects.container(request.container_id)
        _check_streams(request)
        _running(container)
        request.container_id = container.id
        return pb.AttachResponse(url=self.streams.url("attach", request))

    async def PortForward(
        self, request: pb.PortForwardRequest, context: Any
    ) -> pb.PortForwardResponse:
        infra = self.objects.sandbox(request.pod_sandbox_id)
        if not ready(infra):
            raise Conflict(f"pod sandbox {infra.id} is not ready")
        for port in request.port:
            if not 0 < port < 65536:
                raise InvalidArgument(f"port {port} is not a TCP port", field="port")
        netns = infra.netns_path or f"/proc/{infra.state.pid}/ns/net"
        return pb.PortForwardResponse(url=self.streams.url("portforward", request, netns))
