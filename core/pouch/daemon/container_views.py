"""pouch's container records → docker's JSON: inspect, the list entries, status text.

Owns the response shapes of ``GET /containers/json`` and
``GET /containers/{id}/json`` (docker's names, RFC 3339 times, ``"/name"``)
and docker's human status ("Up 3 seconds", "Exited (0) 2 minutes ago"). The
``Config`` and ``HostConfig`` echoed back reuse the request structs, so what a
client sent and what it reads back have one definition.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import msgspec

from pouch import oci
from pouch.daemon import docker_types as dt
from pouch.daemon.docker_views import (
    ContainerInspect,
    ContainerSummary,
    EndpointView,
    GraphDriver,
    HealthLogView,
    HealthView,
    MountView,
    NetworkSettings,
    PortView,
    StateView,
    SummaryHostConfig,
    SummaryNetworks,
)
from pouch.humanize import human_duration
from pouch.logs import format_time
from pouch.models import Container, ContainerConfig, Health, Healthcheck, PortMapping, State
from pouch.oci import DEFAULT_SHM_SIZE

__all__ = [
    "ZERO_TIME",
    "host_config",
    "human_duration",
    "inspect_view",
    "rfc3339",
    "status_text",
    "summary_view",
]

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(seconds: float) -> str:
    return format_time(int(seconds * 1e9)) if seconds else ZERO_TIME


def status_text(container: Container, now: float | None = None) -> str:
    now = time.time() if now is None else now
    state = container.state
    if state.status == State.RUNNING:
        return f"Up {human_duration(now - state.started_at)}{_health_suffix(container)}"
    if state.status == State.PAUSED:
        return f"Up {human_duration(now - state.started_at)} (Paused)"
    if state.status == State.RESTARTING:
        return f"Restarting ({state.exit_code or 0}) {human_duration(now - state.finished_at)} ago"
    if state.status == State.EXITED:
        return f"Exited ({state.exit_code or 0}) {human_duration(now - state.finished_at)} ago"
    if state.status == State.DEAD:
        return "Dead"
    return "Created"


def _health_suffix(container: Container) -> str:
    """`` (healthy)``, `` (unhealthy)``, `` (health: starting)`` as docker's ps shows them."""
    health = container.state.health
    if health is None or container.config.healthcheck is None:
        return ""
    if health.status == "starting":
        return " (health: starting)"
    return f" ({health.status})"


def _health_view(health: Health | None) -> HealthView | None:
    if health is None:
        return None
    log = [
        HealthLogView(
            Start=rfc3339(r.start), End=rfc3339(r.end), ExitCode=r.exit_code, Output=r.output
        )
        for r in health.log
    ]
    return HealthView(Status=health.status, FailingStreak=health.failing_streak, Log=log)


def _health_config(check: Healthcheck | None) -> dt.HealthConfig | None:
    if check is None:
        return None
    return dt.HealthConfig(**check.docker_fields())


def _spec(container: Container) -> oci.Spec:
    return msgspec.json.decode(container.spec, type=oci.Spec) if container.spec else oci.Spec()


def _mounts(container: Container, spec: oci.Spec) -> list[MountView]:
    sources = {m.destination: m.source for m in spec.mounts}
    drivers = dict((name, driver) for driver, name in container.volumes)
    views = []
    for mount in container.config.mounts:
        source = sources.get(mount.target, mount.source)
        volume = mount.type == "volume"
        name = mount.source or (source.rstrip("/").split("/")[-2] if volume and source else "")
        views.append(
            MountView(
                Type=mount.type,
                Name=name if volume else "",
                Source=source,
                Destination=mount.target,
                Driver=drivers.get(name, mount.driver or "local") if volume else "",
                Mode="ro" if mount.read_only else "",
                RW=not mount.read_only,
                Propagation="rprivate" if mount.type == "bind" else "",
            )
        )
    return views


def _ports(config: ContainerConfig) -> dict[str, list[dt.PortBinding] | None]:
    ports: dict[str, list[dt.PortBinding] | None] = {}
    for port in config.ports:
        binding = dt.PortBinding(HostIp=port.host_ip, HostPort=str(port.host_port or ""))
        ports.setdefault(f"{port.container_port}/{port.protocol}", []).append(binding)  # type: ignore[union-attr]
    return ports


def _running(container: Container) -> bool:
    return container.state.status in (State.RUNNING, State.PAUSED)


def _bound_ports(container: Container) -> list[PortMapping]:
    """The published ports with the host ports the network driver bound."""
    bound = [p for a in container.attachments for p in a.ports]
    return bound if bound else [p for p in container.config.ports if p.host_port]


def _live_ports(container: Container) -> dict[str, list[dt.PortBinding] | None]:
    """``NetworkSettings.Ports``: every exposed port, with its host bindings, while running."""
    if not _running(container):
        return {}
    ports: dict[str, list[dt.PortBinding] | None] = {
        key: None for key in container.config.exposed_ports
    }
    for port in _bound_ports(container):
        binding = dt.PortBinding(HostIp=port.host_ip or "0.0.0.0", HostPort=str(port.host_port))
        key = f"{port.container_port}/{port.protocol}"
        ports[key] = [*(ports.get(key) or []), binding]
    return ports


def _summary_ports(container: Container) -> list[PortView]:
    if not _running(container):
        return []
    views = [
        PortView(
            IP=p.host_ip or "0.0.0.0",
            PrivatePort=p.container_port,
            PublicPort=p.host_port,
            Type=p.protocol,
        )
        for p in _bound_ports(container)
    ]
    published = {f"{p.container_port}/{p.protocol}" for p in _bound_ports(container)}
    for key in container.config.exposed_ports:
        if key not in published:
            number, _, protocol = key.partition("/")
            views.append(PortView(PrivatePort=int(number), Type=protocol))
    return views


def _network_mode(config: ContainerConfig) -> str:
    if config.network_container:
        return f"container:{config.network_container}"
    return config.networks[0] if config.networks else "default"


def _endpoint_view(container: Container, network: str, network_id: str) -> EndpointView:
    """What the container asked of ``network``; docker adds the short ID as an alias."""
    asked = container.config.endpoints.get(network)
    user_network = network not in ("bridge", "host", "none", "default")
    aliases = [*(asked.aliases if asked else []), container.id[:12]] if user_network else []
    ipam = {}
    if asked is not None and asked.ipv4_address:
        ipam["IPv4Address"] = asked.ipv4_address
    if asked is not None and asked.ipv6_address:
        ipam["IPv6Address"] = asked.ipv6_address
    return EndpointView(
        NetworkID=network_id,
        IPAMConfig=ipam or None,
        Aliases=aliases or None,
        MacAddress=asked.mac_address if asked else "",
    )


def _endpoints(container: Container, ids: Mapping[str, str]) -> dict[str, EndpointView]:
    """Docker's ``Networks`` of a container; ``ids`` maps network names to their IDs."""
    views = {
        name: _endpoint_view(container, name, ids.get(name, ""))
        for name in container.config.networks
    }
    for attachment in container.attachments:
        ipv4 = [ip for ip in attachment.ips if ":" not in ip]
        ipv6 = [ip for ip in attachment.ips if ":" in ip]
        address, _, prefix = (ipv4[0] if ipv4 else "").partition("/")
        address6, _, prefix6 = (ipv6[0] if ipv6 else "").partition("/")
        view = views.get(attachment.network) or _endpoint_view(
            container, attachment.network, ids.get(attachment.network, "")
        )
        views[attachment.network] = msgspec.structs.replace(
            view,
            EndpointID=attachment.interface,
            Gateway=attachment.gateway if ":" not in attachment.gateway else "",
            IPAddress=address,
            IPPrefixLen=int(prefix) if prefix.isdigit() else 0,
            GlobalIPv6Address=address6,
            GlobalIPv6PrefixLen=int(prefix6) if prefix6.isdigit() else 0,
            MacAddress=attachment.mac,
        )
    return views


def host_config(config: ContainerConfig) -> dt.HostConfig:
    res = config.resources
    binds = [
        f"{m.source}:{m.target}{':ro' if m.read_only else ''}"
        for m in config.mounts
        if m.source and m.type in ("bind", "volume")
    ]
    return dt.HostConfig(
        Binds=binds or None,
        # The CRI format is what is written; "json-file" is what docker-py
        # checks before it reads a container's logs, and the log API is the same.
        LogConfig=dt.LogConfig(
            Type="none" if config.log_driver == "none" else "json-file",
            Config=dict(config.log_options),
        ),
        NetworkMode=_network_mode(config),
        PortBindings=_ports(config),
        PublishAllPorts=config.publish_all_ports,
        RestartPolicy=dt.RestartPolicy(
            Name=config.restart_policy.name,
            MaximumRetryCount=config.restart_policy.maximum_retry_count,
        ),
        AutoRemove=config.auto_remove,
        CapAdd=config.cap_add or None,
        CapDrop=config.cap_drop or None,
        Privileged=config.privileged,
        ReadonlyRootfs=config.read_only_rootfs,
        SecurityOpt=_security_opt(config),
        Tmpfs=config.tmpfs or None,
        Sysctls=config.sysctls or None,
        Runtime=config.runtime,
        Init=config.init,
        EnableLxcfs=config.enable_lxcfs,
        StorageOpt=config.storage_opt or None,
        UsernsMode=config.userns_mode,
        Memory=res.memory or 0,
        MemoryReservation=res.memory_reservation or 0,
        MemorySwap=res.memory_swap or 0,
        NanoCpus=int(res.cpus * 1e9) if res.cpus else 0,
        CpuShares=res.cpu_shares or 0,
        CpusetCpus=res.cpuset_cpus or "",
        CpusetMems=res.cpuset_mems or "",
        PidsLimit=res.pids_limit,
        BlkioWeight=res.blkio_weight or 0,
        Ulimits=[dt.UlimitSpec(Name=u.name, Soft=u.soft, Hard=u.hard) for u in config.ulimits]
        or None,
        MemorySwappiness=res.memory_swappiness,
        **_shared_settings(config),
    )


def _shared_settings(config: ContainerConfig) -> dict[str, Any]:
    """Namespaces, devices, /etc files and what comes from other containers."""
    return {
        "PidMode": config.pid_mode,
        "IpcMode": config.ipc_mode or "private",
        "UTSMode": config.uts_mode,
        "CgroupnsMode": config.cgroupns_mode,
        "Devices": [
            dt.DeviceMapping(
                PathOnHost=d.path_on_host,
                PathInContainer=d.path_in_container or d.path_on_host,
                CgroupPermissions=d.permissions,
            )
            for d in config.devices
        ],
        "DeviceCgroupRules": config.device_cgroup_rules or None,
        "ShmSize": config.shm_size or DEFAULT_SHM_SIZE,
        "GroupAdd": config.group_add or None,
        "ExtraHosts": config.extra_hosts or None,
        "Dns": config.dns,
        "DnsSearch": config.dns_search,
        "DnsOptions": config.dns_options,
        "VolumesFrom": config.volumes_from or None,
        "Isolation": "default",
    }


def _links(container: Container) -> list[str] | None:
    """``HostConfig.Links`` as docker shows them: ``/other:/me/alias``."""
    views = []
    for link in container.config.links:
        ref, _, alias = link.partition(":")
        name = ref.lstrip("/")
        views.append(f"/{name}:/{container.name}/{alias or name}")
    return views or None


def inspect_view(
    container: Container,
    *,
    exec_ids: list[str] | None = None,
    network_ids: Mapping[str, str] | None = None,
) -> ContainerInspect:
    """``network_ids`` maps network names to IDs, for the endpoints' ``NetworkID``."""
    config = container.config
    spec = _spec(container)
    process = spec.process
    args = list(process.args) if process else []
    state = container.state
    endpoints = _endpoints(container, network_ids or {})
    first = next(iter(endpoints.values()), EndpointView())
    return ContainerInspect(
        Id=container.id,
        Created=rfc3339(container.created_at),
        Path=args[0] if args else "",
        Args=args[1:],
        State=StateView(
            Status=str(state.status),
            Running=state.status in (State.RUNNING, State.PAUSED),
            Paused=state.status == State.PAUSED,
            Restarting=state.status == State.RESTARTING,
            OOMKilled=state.oom_killed,
            Dead=state.status == State.DEAD,
            Pid=state.pid,
            ExitCode=state.exit_code or 0,
            Error=state.error,
            StartedAt=rfc3339(state.started_at),
            FinishedAt=rfc3339(state.finished_at),
            Health=_health_view(state.health),
        ),
        Image=container.image_id,
        LogPath="" if config.log_driver == "none" else container.log_path,
        Name=f"/{container.name}",
        RestartCount=state.restart_count,
        ExecIDs=exec_ids or None,
        HostConfig=msgspec.structs.replace(
            host_config(config), Runtime=container.runtime, Links=_links(container)
        ),
        GraphDriver=GraphDriver(),
        Mounts=_mounts(container, spec),
        Config=dt.DockerConfig(
            Hostname=config.hostname or container.id[:12],
            Domainname=config.domainname,
            User=config.user,
            ExposedPorts={key: {} for key in config.exposed_ports} or None,
            Tty=config.tty,
            OpenStdin=config.open_stdin,
            StdinOnce=config.stdin_once,
            Env=list(process.env) if process else list(config.env),
            Cmd=config.cmd,
            Image=config.image,
            Volumes={m.target: {} for m in config.mounts if m.type == "volume"} or None,
            WorkingDir=process.cwd if process else config.working_dir,
            Entrypoint=config.entrypoint,
            Labels=dict(config.labels),
            StopSignal=spec.annotations.get(oci.ANNOTATION_STOP_SIGNAL, config.stop_signal),
            StopTimeout=config.stop_timeout,
            Healthcheck=_health_config(config.healthcheck),
            Rich=config.rich,
            RichMode=(config.rich_mode or "dumb-init") if config.rich else "",
            InitScript=config.initscript,
        ),
        NetworkSettings=NetworkSettings(
            SandboxID=container.sandbox_id,
            Ports=_live_ports(container),
            Gateway=first.Gateway,
            IPAddress=first.IPAddress,
            IPPrefixLen=first.IPPrefixLen,
            MacAddress=first.MacAddress,
            Networks=endpoints,
        ),
    )


def summary_view(
    container: Container,
    now: float | None = None,
    *,
    network_ids: Mapping[str, str] | None = None,
) -> ContainerSummary:
    config = container.config
    spec = _spec(container)
    args = list(spec.process.args) if spec.process else []
    return ContainerSummary(
        Id=container.id,
        Names=[f"/{container.name}"],
        Image=config.image,
        ImageID=container.image_id,
        Command=" ".join(args),
        Created=int(container.created_at),
        Ports=_summary_ports(container),
        Labels=dict(config.labels),
        State=str(container.state.status),
        Status=status_text(container, now),
        HostConfig=SummaryHostConfig(NetworkMode=_network_mode(config)),
        NetworkSettings=SummaryNetworks(Networks=_endpoints(container, network_ids or {})),
        Mounts=_mounts(container, spec),
    )


def _security_opt(config: ContainerConfig) -> list[str] | None:
    options = ["no-new-privileges"] if config.no_new_privileges else []
    if config.seccomp_profile:
        options.append(f"seccomp={config.seccomp_profile}")
    return options or None
