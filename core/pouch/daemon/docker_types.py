"""Request bodies of the Docker Engine API, as msgspec structs with docker's own names.

Field names are the API's, verbatim (``HostConfig.NanoCpus``, ``RestartPolicy.Name``),
so a validation error names the field the client sent (``$.HostConfig.Memory``).
Every known field is type-checked; unknown ones are tolerated at decode time
(``pouch.daemon.routing.decode_body`` reports them to clients other than
docker's). Fields pouch does not support are declared too, so they are
type-checked and ``pouch.daemon.translate`` can refuse a non-empty value with
a clear message instead of ignoring it. Docker's Go types let ``null`` stand
for an empty list or map, so those fields accept it.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

__all__ = [
    "AuthConfig",
    "ContainerCreate",
    "ContainerUpdate",
    "DeviceMapping",
    "DockerConfig",
    "EndpointSettings",
    "ExecCreate",
    "ExecStart",
    "HealthConfig",
    "HostConfig",
    "LogConfig",
    "MountSpec",
    "NetworkConnect",
    "NetworkCreate",
    "NetworkDisconnect",
    "NetworkingConfig",
    "PortBinding",
    "RestartPolicy",
    "UlimitSpec",
    "VolumeCreate",
]

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
# docker's StrSlice: a JSON string is a one-element list.
StrSlice = list[str] | str | None


class DockerIn(msgspec.Struct, kw_only=True):
    """Base of request bodies (and their echo in inspect): unknown fields tolerated."""


class RestartPolicy(DockerIn):
    Name: str = ""
    MaximumRetryCount: NonNegative = 0


class LogConfig(DockerIn):
    Type: str = ""
    Config: dict[str, str] | None = None


class PortBinding(DockerIn):
    HostIp: str = ""
    HostPort: str = ""


class UlimitSpec(DockerIn):
    Name: str
    Soft: Int64
    Hard: Int64


class BindOptions(DockerIn):
    Propagation: str = ""
    NonRecursive: bool = False


class DriverConfig(DockerIn):
    Name: str = ""
    Options: dict[str, str] | None = None


class VolumeOptions(DockerIn):
    NoCopy: bool = False
    Labels: dict[str, str] | None = None
    DriverConfig: DriverConfig | None = None


class TmpfsOptions(DockerIn):
    SizeBytes: NonNegative = 0
    Mode: NonNegative = 0


class MountSpec(DockerIn):
    Target: str = ""
    Source: str = ""
    Type: str = "volume"
    ReadOnly: bool = False
    Consistency: str = ""
    BindOptions: BindOptions | None = None
    VolumeOptions: VolumeOptions | None = None
    TmpfsOptions: TmpfsOptions | None = None


class DeviceMapping(DockerIn):
    """One ``HostConfig.Devices`` entry, as the docker CLI sends ``--device``."""

    PathOnHost: str = ""
    PathInContainer: str = ""
    CgroupPermissions: str = ""


class Resources(DockerIn):
    """``HostConfig``'s resource fields; also the body of ``/containers/{id}/update``."""

    CpuShares: NonNegative = 0
    Memory: NonNegative = 0
    NanoCpus: NonNegative = 0
    CgroupParent: str = ""
    BlkioWeight: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    CpuPeriod: NonNegative = 0
    CpuQuota: Int64 = 0
    CpusetCpus: str = ""
    CpusetMems: str = ""
    Devices: list[DeviceMapping] | None = None
    DeviceCgroupRules: list[str] | None = None
    DeviceRequests: list[dict[str, Any]] | None = None
    KernelMemory: Int64 = 0
    MemoryReservation: NonNegative = 0
    MemorySwap: Int64 = 0
    MemorySwappiness: Int64 | None = None
    OomKillDisable: bool | None = None
    PidsLimit: Int64 | None = None
    Ulimits: list[UlimitSpec] | None = None


class HostConfig(Resources):
    Binds: list[str] | None = None
    ContainerIDFile: str = ""
    LogConfig: LogConfig | None = None
    NetworkMode: str = ""
    PortBindings: dict[str, list[PortBinding] | None] | None = None
    RestartPolicy: RestartPolicy | None = None
    AutoRemove: bool = False
    VolumeDriver: str = ""
    VolumesFrom: list[str] | None = None
    Mounts: list[MountSpec] | None = None
    CapAdd: StrSlice = None
    CapDrop: StrSlice = None
    CgroupnsMode: str = ""
    Dns: list[str] | None = None
    DnsOptions: list[str] | None = None
    DnsSearch: list[str] | None = None
    ExtraHosts: list[str] | None = None
    GroupAdd: list[str] | None = None
    IpcMode: str = ""
    Cgroup: str = ""
    Links: list[str] | None = None
    OomScoreAdj: Annotated[int, msgspec.Meta(ge=-1000, le=1000)] = 0
    PidMode: str = ""
    Privileged: bool = False
    PublishAllPorts: bool = False
    ReadonlyRootfs: bool = False
    SecurityOpt: list[str] | None = None
    StorageOpt: dict[str, str] | None = None
    Tmpfs: dict[str, str] | None = None
    UTSMode: str = ""
    UsernsMode: str = ""
    ShmSize: NonNegative = 0
    Sysctls: dict[str, str] | None = None
    Runtime: str = ""
    ConsoleSize: list[NonNegative] | None = None
    Isolation: str = ""
    Init: bool | None = None
    # PouchContainer's extension: lxcfs files in /proc; unset is the daemon's default.
    EnableLxcfs: bool | None = None


class HealthConfig(DockerIn):
    """``Config.Healthcheck``: durations in nanoseconds, 0 for the daemon's default.

    docker-py and docker-compose send ``null`` for what is not set: 0 as well.
    """

    Test: list[str] | None = None
    Interval: Int64 | None = 0
    Timeout: Int64 | None = 0
    StartPeriod: Int64 | None = 0
    StartInterval: Int64 | None = 0
    Retries: Int64 | None = 0


class DockerConfig(DockerIn):
    """``Config``: the container's portable settings (the top level of a create body)."""

    Hostname: str = ""
    Domainname: str = ""
    User: str = ""
    AttachStdin: bool = False
    AttachStdout: bool = False
    AttachStderr: bool = False
    ExposedPorts: dict[str, dict[str, Any]] | None = None
    Tty: bool = False
    OpenStdin: bool = False
    StdinOnce: bool = False
    Env: list[str] | None = None
    Cmd: StrSlice = None
    Healthcheck: HealthConfig | None = None
    ArgsEscaped: bool = False
    Image: str = ""
    Volumes: dict[str, dict[str, Any]] | None = None
    WorkingDir: str = ""
    Entrypoint: StrSlice = None
    NetworkDisabled: bool = False
    MacAddress: str = ""
    OnBuild: list[str] | None = None
    Labels: dict[str, str] | None = None
    StopSignal: str = ""
    StopTimeout: NonNegative | None = None
    Shell: list[str] | None = None
    # PouchContainer's rich container (its API's names); the docker CLI asks
    # with the labels io.pouch.rich-mode and io.pouch.initscript instead.
    Rich: bool = False
    RichMode: str = ""
    InitScript: str = ""


class EndpointSettings(DockerIn):
    IPAMConfig: dict[str, Any] | None = None
    Links: list[str] | None = None
    Aliases: list[str] | None = None
    NetworkID: str = ""
    EndpointID: str = ""
    Gateway: str = ""
    IPAddress: str = ""
    MacAddress: str = ""
    DriverOpts: dict[str, str] | None = None


class NetworkingConfig(DockerIn):
    EndpointsConfig: dict[str, EndpointSettings | None] | None = None


class ContainerCreate(DockerConfig):
    """``POST /containers/create``: Config with HostConfig and NetworkingConfig beside it."""

    HostConfig: HostConfig | None = None
    NetworkingConfig: NetworkingConfig | None = None


class ContainerUpdate(Resources):
    RestartPolicy: RestartPolicy | None = None


class ExecCreate(DockerIn):
    # docker-py sends the container's ID again; the path names it already.
    Container: str = ""
    AttachStdin: bool = False
    AttachStdout: bool = False
    AttachStderr: bool = False
    DetachKeys: str = ""
    Tty: bool = False
    ConsoleSize: list[NonNegative] | None = None
    Env: list[str] | None = None
    Cmd: StrSlice = None
    Privileged: bool = False
    User: str = ""
    WorkingDir: str = ""


class ExecStart(DockerIn):
    Detach: bool = False
    Tty: bool = False
    ConsoleSize: list[NonNegative] | None = None


class IPAMConfig(DockerIn):
    # docker-py sends null for what is not set.
    Subnet: str | None = ""
    IPRange: str | None = ""
    Gateway: str | None = ""
    AuxiliaryAddresses: dict[str, str] | None = None


class IPAM(DockerIn):
    Driver: str = ""
    Config: list[IPAMConfig] | None = None
    Options: dict[str, str] | None = None


class NetworkCreate(DockerIn):
    Name: Annotated[str, msgspec.Meta(min_length=1)]
    CheckDuplicate: bool = False
    Driver: str = ""
    Internal: bool = False
    Attachable: bool = False
    Ingress: bool = False
    IPAM: IPAM | None = None
    EnableIPv6: bool = False
    Options: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


class NetworkConnect(DockerIn):
    Container: Annotated[str, msgspec.Meta(min_length=1)]
    EndpointConfig: EndpointSettings | None = None


class NetworkDisconnect(DockerIn):
    Container: Annotated[str, msgspec.Meta(min_length=1)]
    Force: bool = False


class VolumeCreate(DockerIn):
    Name: str = ""
    Driver: str = ""
    DriverOpts: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


class VolumeUpdate(DockerIn):
    """pouch's ``PUT /volumes/{name}``: the options to change."""

    Options: dict[str, str] | None = None


class AuthConfig(DockerIn):
    """Credentials: the ``/auth`` body and the decoded ``X-Registry-Auth`` header."""

    username: str = ""
    password: str = ""
    auth: str = ""
    email: str = ""
    serveraddress: str = ""
    identitytoken: str = ""
    registrytoken: str = ""
