"""The CRI ``RuntimeService``: what the runtime is and whether it is ready.

Pods, containers and statistics are the other parts of the service
(``_pods``, ``_containers``, ``_stats``); what none implements answers
UNIMPLEMENTED.
"""

from __future__ import annotations

from typing import Any

from pouch import __version__
from pouch.engine import Engine

from ._pb import api_pb2 as pb

__all__ = ["API_VERSION", "RuntimeService"]

#: the CRI version this server speaks.
API_VERSION = "v1"
#: network drivers that give pods a network of their own.
_POD_NETWORKS = ("bridge",)


class RuntimeService:
    """``runtime.v1.RuntimeService``: each method takes (request, context)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def Version(self, request: pb.VersionRequest, context: Any) -> pb.VersionResponse:
        return pb.VersionResponse(
            version="0.1.0",
            runtime_name="pouch",
            runtime_version=__version__,
            runtime_api_version=API_VERSION,
        )

    async def Status(self, request: pb.StatusRequest, context: Any) -> pb.StatusResponse:
        networks = self.engine.kernel.networks
        network_ready = any(name in networks for name in _POD_NETWORKS)
        conditions = [
            pb.RuntimeCondition(type="RuntimeReady", status=True),
            pb.RuntimeCondition(
                type="NetworkReady",
                status=network_ready,
                reason="" if network_ready else "NetworkPluginNotReady",
                message="" if network_ready else "no CNI bridge driver: pip install pouch-cni",
            ),
        ]
        response = pb.StatusResponse(status=pb.RuntimeStatus(conditions=conditions))
        if request.verbose:
            response.info["runtimes"] = ",".join(self.engine.kernel.runtimes.names())
            response.info["networkDrivers"] = ",".join(networks.names())
        return response

    async def RuntimeConfig(
        self, request: pb.RuntimeConfigRequest, context: Any
    ) -> pb.RuntimeConfigResponse:
        # The engine's cgroup manager: kubelet must use the same driver.
        systemd = self.engine.config.cgroup_manager == "systemd"
        return pb.RuntimeConfigResponse(
            linux=pb.LinuxRuntimeConfiguration(cgroup_driver=pb.SYSTEMD if systemd else pb.CGROUPFS)
        )
