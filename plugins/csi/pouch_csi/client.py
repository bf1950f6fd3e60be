"""A CSI driver as pouch sees it: a gRPC client for its services, and what it declared.

``CsiClient`` calls one method of the Identity, Controller or Node service
on the driver's unix socket(s) with a deadline, and turns every failure into
a ``CsiError`` that names the driver and the step (``csi driver hostdir:
NodePublishVolume: …``) with the HTTP status its gRPC code stands for.
``probe`` asks the driver what it is and can do (``Profile``), which the
volume driver honours: no Controller service, no staging, controller
publishing or not, expansion, snapshots, stats. Requests may carry secrets:
they are never logged, and errors quote only the driver's own message.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from pouch.errors import PouchError
from pouch_csi._deferred import grpc, pb

__all__ = ["CsiClient", "CsiError", "Profile"]

log = logging.getLogger("pouch.csi")

#: gRPC status code names, as the HTTP status each stands for (grpc is imported on first use).
_STATUS = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    "RESOURCE_EXHAUSTED": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "ABORTED": 409,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_NODE = {"NodeGetInfo", "NodeGetCapabilities"}


def _transport(details: str) -> bool:
    """Whether an UNAVAILABLE comes from the connection, not from the driver's own answer."""
    words = ("connect", "socket", "closed", "reset", "broken pipe", "end of stream", "goaway")
    return any(word in details.lower() for word in words)


class CsiError(PouchError):
    """A driver's call failed; ``code`` is the gRPC status (None for an unreadable answer)."""

    def __init__(self, driver: str, step: str, message: str, code: grpc.StatusCode | None) -> None:
        super().__init__(f"csi driver {driver}: {step}: {message}")
        self.driver = driver
        self.step = step
        self.code = code
        self.status = _STATUS.get(code.name, 502) if code is not None else 502

    @property
    def unreachable(self) -> bool:
        return self.code is not None and self.code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


class Profile(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What a driver said about itself when probed."""

    plugin_name: str
    vendor_version: str = ""
    controller: bool = False
    #: ControllerServiceCapability.RPC type names (CREATE_DELETE_VOLUME, …).
    controller_capabilities: list[str] = []
    #: NodeServiceCapability.RPC type names (STAGE_UNSTAGE_VOLUME, …).
    node_capabilities: list[str] = []
    #: "online", "offline" or "" (PluginCapability.VolumeExpansion).
    expansion: str = ""
    node_id: str = ""
    max_volumes_per_node: int = 0

    def can(self, capability: str) -> bool:
        if capability in self.node_capabilities:
            return True
        return self.controller and capability in self.controller_capabilities


class CsiClient:
    """One driver's Identity/Controller service on ``endpoint``, Node on ``node_endpoint``."""

    def __init__(
        self, driver: str, endpoint: str, node_endpoint: str = "", *, timeout: float = 60.0
    ) -> None:
        self.driver = driver
        self.endpoint = endpoint
        self.node_endpoint = node_endpoint or endpoint
        self.timeout = timeout
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, target: str) -> grpc.aio.Channel:
        if target not in self._channels:
            # One try per call: a driver that is down is reported, not waited for.
            options = [("grpc.enable_retries", 0), ("grpc.max_reconnect_backoff_ms", 1000)]
            self._channels[target] = grpc.aio.insecure_channel(target, options=options)
        return self._channels[target]

    async def call(self, service: str, method: str, request: Any, *, timeout: float = 0) -> Any:
        """``csi.v1.<service>/<method>`` with ``request``; its response, or ``CsiError``."""
        node = service == "Node" or method in _NODE
        target = self.node_endpoint if node else self.endpoint
        response_type = getattr(pb, f"{method}Response")
        stub = self._channel(target).unary_unary(
            f"/csi.v1.{service}/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString,
        )
        try:
            return await stub(request, timeout=timeout or self.timeout)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            details = error.details() or code.name
            if "pars" in details.lower():  # "Failed parsing HTTP/2", "failed to parse"
                details = f"what answers at {target} does not speak gRPC ({details})"
            elif code == grpc.StatusCode.UNAVAILABLE and _transport(details):
                details = f"driver unreachable at {target} ({details}); is the driver running?"
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                details = f"no answer within {timeout or self.timeout:g} s"
            log.info("csi %s %s: %s", self.driver, method, code.name)
            raise CsiError(self.driver, method, f"{code.name}: {details}", code) from None

    async def probe(self) -> Profile:
        """Ask GetPluginInfo, GetPluginCapabilities, Probe, NodeGetInfo and the capabilities."""
        info = await self.call("Identity", "GetPluginInfo", pb.GetPluginInfoRequest())
        if not info.name:
            raise CsiError(self.driver, "GetPluginInfo", "the driver gave no name", None)
        plugin = await self.call(
            "Identity", "GetPluginCapabilities", pb.GetPluginCapabilitiesRequest()
        )
        ready = await self.call("Identity", "Probe", pb.ProbeRequest())
        if ready.HasField("ready") and not ready.ready.value:
            raise CsiError(
                self.driver, "Probe", "the driver says it is not ready", grpc.StatusCode.UNAVAILABLE
            )
        profile = Profile(plugin_name=info.name, vendor_version=info.vendor_version)
        for capability in plugin.capabilities:
            if capability.WhichOneof("type") == "service":
                service = capability.service.type
                profile.controller |= service == pb.PluginCapability.Service.CONTROLLER_SERVICE
            elif capability.WhichOneof("type") == "volume_expansion":
                kind = capability.volume_expansion.type
                profile.expansion = pb.PluginCapability.VolumeExpansion.Type.Name(kind).lower()
        node = await self.call("Node", "NodeGetInfo", pb.NodeGetInfoRequest())
        profile.node_id, profile.max_volumes_per_node = node.node_id, node.max_volumes_per_node
        node_caps = await self.call("Node", "NodeGetCapabilities", pb.NodeGetCapabilitiesRequest())
        rpc = pb.NodeServiceCapability.RPC.Type
        profile.node_capabilities = [rpc.Name(c.rpc.type) for c in node_caps.capabilities]
        if profile.controller:
            caps = await self.call(
                "Controller", "ControllerGetCapabilities", pb.ControllerGetCapabilitiesRequest()
            )
            crpc = pb.ControllerServiceCapability.RPC.Type
            profile.controller_capabilities = [crpc.Name(c.rpc.type) for c in caps.capabilities]
        return profile

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
