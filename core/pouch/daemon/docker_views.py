"""Response shapes of the container endpoints, with docker's names, every field present.

``ContainerInspect`` is ``GET /containers/{id}/json``; ``ContainerSummary`` one
entry of ``GET /containers/json``. ``Config`` and ``HostConfig`` reuse the
request structs of ``docker_types``, so what a client sends and what it reads
back have one definition. Filling them is ``container_views``' job.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pouch.daemon import docker_types as dt

__all__ = [
    "ContainerInspect",
    "ContainerSummary",
    "EndpointView",
    "GraphDriver",
    "HealthLogView",
    "HealthView",
    "MountView",
    "NetworkSettings",
    "PortView",
    "StateView",
    "SummaryHostConfig",
    "SummaryNetworks",
]


class Out(msgspec.Struct, kw_only=True):
    """Base of response structs: docker's names, every field present."""


class HealthLogView(Out, kw_only=True):
    Start: str
    End: str
    ExitCode: int
    Output: str


class HealthView(Out, kw_only=True):
    Status: str
    FailingStreak: int
    Log: list[HealthLogView]


# omit_defaults: only ``Health`` has a default, and docker leaves it out
# for a container without a healthcheck.
class StateView(Out, kw_only=True, omit_defaults=True):
    Status: str
    Running: bool
    Paused: bool
    Restarting: bool
    OOMKilled: bool
    Dead: bool
    Pid: int
    ExitCode: int
    Error: str
    StartedAt: str
    FinishedAt: str
    Health: HealthView | None = None


class MountView(Out, kw_only=True):
    Type: str
    Name: str = ""
    Source: str
    Destination: str
    Driver: str = ""
    Mode: str = ""
    RW: bool
    Propagation: str = ""


class EndpointView(Out, kw_only=True):
    IPAMConfig: dict[str, Any] | None = None
    Links: list[str] | None = None
    Aliases: list[str] | None = None
    NetworkID: str = ""
    EndpointID: str = ""
    Gateway: str = ""
    IPAddress: str = ""
    IPPrefixLen: int = 0
    IPv6Gateway: str = ""
    GlobalIPv6Address: str = ""
    GlobalIPv6PrefixLen: int = 0
    MacAddress: str = ""


class NetworkSettings(Out, kw_only=True):
    Bridge: str = ""
    SandboxID: str = ""
    SandboxKey: str = ""
    Ports: dict[str, list[dt.PortBinding] | None] = {}
    Gateway: str = ""
    IPAddress: str = ""
    IPPrefixLen: int = 0
    MacAddress: str = ""
    Networks: dict[str, EndpointView] = {}


class GraphDriver(Out, kw_only=True):
    Name: str = "overlay2"
    Data: dict[str, str] = {}


class ContainerInspect(Out, kw_only=True):
    Id: str
    Created: str
    Path: str
    Args: list[str]
    State: StateView
    Image: str
    ResolvConfPath: str = ""
    HostnamePath: str = ""
    HostsPath: str = ""
    LogPath: str
    Name: str
    RestartCount: int
    Driver: str = "overlay2"
    Platform: str = "linux"
    MountLabel: str = ""
    ProcessLabel: str = ""
    AppArmorProfile: str = ""
    ExecIDs: list[str] | None
    HostConfig: dt.HostConfig
    GraphDriver: GraphDriver
    Mounts: list[MountView]
    Config: dt.DockerConfig
    NetworkSettings: NetworkSettings


class PortView(Out, kw_only=True):
    IP: str = ""
    PrivatePort: int
    PublicPort: int = 0
    Type: str


class SummaryHostConfig(Out, kw_only=True):
    NetworkMode: str


class SummaryNetworks(Out, kw_only=True):
    Networks: dict[str, EndpointView]


class ContainerSummary(Out, kw_only=True):
    Id: str
    Names: list[str]
    Image: str
    ImageID: str
    Command: str
    Created: int
    Ports: list[PortView]
    Labels: dict[str, str]
    State: str
    Status: str
    HostConfig: SummaryHostConfig
    NetworkSettings: SummaryNetworks
    Mounts: list[MountView]
