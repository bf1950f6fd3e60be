"""Docker request bodies → pouch's models: ``ContainerCreate`` → ``ContainerConfig`` …

Owns docker's conventions on the way in: zero means "not set" for resource
limits, ``Binds`` strings (a named volume when the source has no slash),
``PortBindings`` keyed by ``"80/tcp"``, ``NetworkMode`` ``default``, the
``SecurityOpt`` (seccomp profiles, no-new-privileges). A field pouch cannot honour is refused
with 400 naming it, never dropped silently. Validation errors of the pouch
model are re-labelled with the docker field the client sent.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from pouch.builtins.seccomp import UNCONFINED, parse_profile
from pouch.daemon import docker_types as dt
from pouch.daemon._translate_host import (
    bind_mount,
    endpoint_links,
    mount_spec,
    network_names,
    port_mappings,
    split_ports,
)
from pouch.errors import InvalidArgument
from pouch.models import ContainerConfig, ExecConfig, Healthcheck, Resources, RestartPolicy

__all__ = ["exec_config", "split_ports", "to_container_config", "to_healthcheck", "to_resources"]

# pouch model paths → the docker field they come from (longest prefix wins).
_DOCKER_PATHS = {
    "$.image": "$.Image",
    "$.entrypoint": "$.Entrypoint",
    "$.cmd": "$.Cmd",
    "$.env": "$.Env",
    "$.working_dir": "$.WorkingDir",
    "$.user": "$.User",
    "$.hostname": "$.Hostname",
    "$.domainname": "$.Domainname",
    "$.labels": "$.Labels",
    "$.mounts": "$.HostConfig.Mounts",
    "$.ports": "$.HostConfig.PortBindings",
    "$.exposed_ports": "$.ExposedPorts",
    "$.networks": "$.HostConfig.NetworkMode",
    "$.endpoints": "$.NetworkingConfig.EndpointsConfig",
    "$.network_container": "$.HostConfig.NetworkMode",
    "$.restart_policy.name": "$.HostConfig.RestartPolicy.Name",
    "$.restart_policy.maximum_retry_count": "$.HostConfig.RestartPolicy.MaximumRetryCount",
    "$.restart_policy": "$.HostConfig.RestartPolicy",
    "$.runtime": "$.HostConfig.Runtime",
    "$.cap_add": "$.HostConfig.CapAdd",
    "$.cap_drop": "$.HostConfig.CapDrop",
    "$.sysctls": "$.HostConfig.Sysctls",
    "$.tmpfs": "$.HostConfig.Tmpfs",
    "$.ulimits": "$.HostConfig.Ulimits",
    "$.stop_signal": "$.StopSignal",
    "$.stop_timeout": "$.StopTimeout",
    "$.log_options": "$.HostConfig.LogConfig.Config",
    "$.auto_remove": "$.HostConfig.AutoRemove",
    "$.storage_opt": "$.HostConfig.StorageOpt",
    "$.enable_lxcfs": "$.HostConfig.EnableLxcfs",
    "$.devices": "$.HostConfig.Devices",
    "$.device_cgroup_rules": "$.HostConfig.DeviceCgroupRules",
    "$.shm_size": "$.HostConfig.ShmSize",
    "$.group_add": "$.HostConfig.GroupAdd",
    "$.extra_hosts": "$.HostConfig.ExtraHosts",
    "$.dns_search": "$.HostConfig.DnsSearch",
    "$.dns_options": "$.HostConfig.DnsOptions",
    "$.dns": "$.HostConfig.Dns",
    "$.volumes_from": "$.HostConfig.VolumesFrom",
    "$.links": "$.HostConfig.Links",
    "$.pid_mode": "$.HostConfig.PidMode",
    "$.ipc_mode": "$.HostConfig.IpcMode",
    "$.uts_mode": "$.HostConfig.UTSMode",
    "$.cgroupns_mode": "$.HostConfig.CgroupnsMode",
    "$.log_driver": "$.HostConfig.LogConfig.Type",
    "$.rich_mode": "$.RichMode",
    "$.initscript": "$.InitScript",
}
# Checks across fields name pouch's fields without a path (``auto_remove and a
# restart policy conflict``): the docker names a client knows.
_MODEL_WORDS = {
    "auto_remove": "HostConfig.AutoRemove",
    "storage_opt": "HostConfig.StorageOpt",
    "pid_mode": "HostConfig.PidMode",
    "ipc_mode": "HostConfig.IpcMode",
    "uts_mode": "HostConfig.UTSMode",
    "shm_size": "HostConfig.ShmSize",
    "log_options": "HostConfig.LogConfig.Config",
    "device_cgroup_rules": "HostConfig.DeviceCgroupRules",
    "extra_hosts": "HostConfig.ExtraHosts",
    "dns server": "HostConfig.Dns",
    "dns_search": "HostConfig.DnsSearch",
    "dns_options": "HostConfig.DnsOptions",
    "group_add": "HostConfig.GroupAdd",
    "link": "HostConfig.Links",
    "volumes_from": "HostConfig.VolumesFrom",
    "network_container": "HostConfig.NetworkMode",
    "rich_mode": "RichMode",
    "initscript": "InitScript",
    "needs rich": "needs Rich",
}
_MODEL_WORD = re.compile(r"\b(" + "|".join(_MODEL_WORDS) + r")\b")
_RESOURCE_NAMES = {
    "memory_reservation": "MemoryReservation",
    "memory_swap": "MemorySwap",
    "memory": "Memory",
    "cpus": "NanoCpus",
    "cpu_shares": "CpuShares",
    "cpuset_cpus": "CpusetCpus",
    "cpuset_mems": "CpusetMems",
    "pids_limit": "PidsLimit",
    "blkio_weight": "BlkioWeight",
    "memory_swappiness": "MemorySwappiness",
}
_RESOURCE_WORDS = re.compile(
    r"(?:(?<=\$\.)|\b)(" + "|".join(sorted(_RESOURCE_NAMES, key=len, reverse=True)) + r")\b"
)
_HEALTH_NAMES = {
    "test": "Test",
    "interval": "Interval",
    "timeout": "Timeout",
    "start_period": "StartPeriod",
    "start_interval": "StartInterval",
    "retries": "Retries",
}
_HEALTH_WORDS = re.compile(r"(?:(?<=\$\.)|\b)(" + "|".join(_HEALTH_NAMES) + r")\b")
_PATH = re.compile(r"`(\$[^`]*)`")
_ENV_NAME = re.compile(r"^[^=\s][^=]*$")
_LOG_TYPES = ("", "json-file", "local", "k8s-file", "none")


def _docker_path(match: re.Match[str]) -> str:
    path = match[1]
    for prefix in sorted(_DOCKER_PATHS, key=len, reverse=True):
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return f"`{_DOCKER_PATHS[prefix]}{path[len(prefix) :]}`"
    return match[0]


def _convert(data: dict[str, Any], kind: type[Any], prefix: str = "") -> Any:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        message = _PATH.sub(_docker_path, str(exc))
        if "`$" not in message:
            message = _MODEL_WORD.sub(lambda m: _MODEL_WORDS[m[1]], message)
        if prefix:
            message = message.replace("`$.", f"`$.{prefix}.").replace("`$`", f"`$.{prefix}`")
        raise InvalidArgument(message) from None


def _slice(value: dt.StrSlice) -> list[str] | None:
    return [value] if isinstance(value, str) else value


def _unsupported(field: str, why: str = "") -> InvalidArgument:
    error = InvalidArgument(f"{field}: {why}" if why else f"{field} is not supported by pouch")
    error.field = field
    return error


def _refuse_unsupported(host: dt.Resources, prefix: str) -> None:
    if host.DeviceRequests:
        raise _unsupported(
            f"{prefix}DeviceRequests", "no GPU support: pouch cannot give devices by request"
        )
    checks: list[tuple[str, object]] = [
        ("CgroupParent", host.CgroupParent),
        ("KernelMemory", host.KernelMemory),
        ("OomKillDisable", host.OomKillDisable),
    ]
    if isinstance(host, dt.HostConfig):
        checks += [
            ("OomScoreAdj", host.OomScoreAdj),
        ]
        if host.UsernsMode not in ("", "host"):
            checks.append(("UsernsMode", host.UsernsMode))
        if host.Isolation not in ("", "default"):
            checks.append(("Isolation", host.Isolation))
    else:  # update: what docker cannot change on a container either
        if host.MemorySwappiness not in (None, -1):
            checks.append(("MemorySwappiness", host.MemorySwappiness))
        checks += [("Devices", host.Devices), ("DeviceCgroupRules", host.DeviceCgroupRules)]
    for name, value in checks:
        if value:
            raise _unsupported(f"{prefix}{name}")


def to_resources(host: dt.Resources, prefix: str = "HostConfig.") -> Resources:
    """docker's resource fields (zero = not set) → ``Resources`` (None = not set)."""
    _refuse_unsupported(host, prefix)
    cpus: float | None = host.NanoCpus / 1e9 if host.NanoCpus else None
    if host.CpuQuota or host.CpuPeriod:
        if host.NanoCpus:
            raise InvalidArgument(
                "NanoCpus and CpuPeriod/CpuQuota cannot both be set", field=f"{prefix}NanoCpus"
            )
        if host.CpuQuota > 0:
            cpus = host.CpuQuota / (host.CpuPeriod or 100_000)
    data: dict[str, Any] = {
        "memory": host.Memory or None,
        "memory_reservation": host.MemoryReservation or None,
        "memory_swap": host.MemorySwap or None,
        "cpus": cpus,
        "cpu_shares": host.CpuShares or None,
        "cpuset_cpus": host.CpusetCpus or None,
        "cpuset_mems": host.CpusetMems or None,
        "pids_limit": host.PidsLimit or None,
        "blkio_weight": host.BlkioWeight or None,
        "memory_swappiness": (
            None if host.MemorySwappiness in (None, -1) else host.MemorySwappiness
        ),
    }
    try:
        return msgspec.convert({k: v for k, v in data.items() if v is not None}, Resources)
    except msgspec.ValidationError as exc:
        message = _RESOURCE_WORDS.sub(lambda m: prefix + _RESOURCE_NAMES[m[1]], str(exc))
        raise InvalidArgument(message.replace("`$`", f"`$.{prefix.rstrip('.')}`")) from None


def _restart_policy(policy: dt.RestartPolicy | None) -> dict[str, Any]:
    if policy is None or not policy.Name:
        return {"name": "no"}
    return {"name": policy.Name, "maximum_retry_count": policy.MaximumRetryCount}


def to_restart_policy(policy: dt.RestartPolicy | None) -> RestartPolicy:
    value: RestartPolicy = _convert(_restart_policy(policy), RestartPolicy)
    return value


def security_options(options: list[str]) -> dict[str, Any]:
    """``HostConfig.SecurityOpt`` as the container config's fields.

    ``seccomp=unconfined`` or ``seccomp=<profile JSON>`` (the docker CLI sends
    a profile file's content), ``no-new-privileges[=true|false]``; with no
    AppArmor or SELinux here, only their "off" forms are accepted.
    """
    fields: dict[str, Any] = {"no_new_privileges": False, "seccomp_profile": ""}
    for index, option in enumerate(options):
        key, sep, value = option.partition("=")
        if not sep and ":" in option:  # the older key:value form
            key, sep, value = option.partition(":")
        if key == "no-new-privileges":
            fields["no_new_privileges"] = not sep or value.lower() in ("true", "1")
        elif key == "seccomp" and value:
            if value not in ("builtin", UNCONFINED):
                try:
                    parse_profile(value)
                except ValueError as exc:
                    raise InvalidArgument(
                        str(exc), field=f"HostConfig.SecurityOpt[{index}]"
                    ) from None
            fields["seccomp_profile"] = "" if value == "builtin" else value
        elif (key, value) not in (("apparmor", "unconfined"), ("label", "disable")):
            raise _unsupported(
                f"HostConfig.SecurityOpt[{index}]",
                f"security option {option!r} is not supported (use seccomp=unconfined,"
                " seccomp=PROFILE-JSON or no-new-privileges)",
            )
    return fields


def _check_config(body: dt.DockerConfig) -> None:
    if not body.Image:
        raise InvalidArgument("no image given", field="Image")
    for index, item in enumerate(body.Env or []):
        if not _ENV_NAME.match(item.partition("=")[0]):
            raise InvalidArgument(f"{item!r} is not NAME=VALUE", field=f"Env[{index}]")
    if body.WorkingDir and not body.WorkingDir.startswith("/"):
        raise InvalidArgument(f"{body.WorkingDir!r} is not an absolute path", field="WorkingDir")


def to_healthcheck(check: dt.HealthConfig | None) -> Healthcheck | None:
    """``Config.Healthcheck`` → ``Healthcheck``; errors name docker's fields (``Interval``)."""
    if check is None:
        return None
    data = {
        "test": check.Test or [],
        "interval": check.Interval or 0,
        "timeout": check.Timeout or 0,
        "start_period": check.StartPeriod or 0,
        "start_interval": check.StartInterval or 0,
        "retries": check.Retries or 0,
    }
    try:
        return msgspec.convert(data, Healthcheck)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if "`$." in message:  # a type error at a field's path
            message = _HEALTH_WORDS.sub(lambda m: _HEALTH_NAMES[m[1]], message)
            message = message.replace("`$.", "`$.Healthcheck.")
        else:  # a check of the model, which names its field in words
            message = _HEALTH_WORDS.sub(lambda m: "Healthcheck." + _HEALTH_NAMES[m[1]], message)
        raise InvalidArgument(message) from None


def _devices(host: dt.HostConfig) -> list[dict[str, str]]:
    return [
        {
            "path_on_host": d.PathOnHost,
            "path_in_container": d.PathInContainer,
            "permissions": d.CgroupPermissions or "rwm",
        }
        for d in host.Devices or []
    ]


def _shared_settings(host: dt.HostConfig) -> dict[str, Any]:
    """Namespaces, devices, /etc files and what comes from other containers."""
    return {
        "pid_mode": host.PidMode,
        "ipc_mode": host.IpcMode,
        "uts_mode": host.UTSMode,
        "cgroupns_mode": host.CgroupnsMode,
        "devices": _devices(host),
        "device_cgroup_rules": host.DeviceCgroupRules or [],
        "shm_size": host.ShmSize,
        "group_add": host.GroupAdd or [],
        "extra_hosts": host.ExtraHosts or [],
        "dns": host.Dns or [],
        "dns_search": host.DnsSearch or [],
        "dns_options": host.DnsOptions or [],
        "volumes_from": host.VolumesFrom or [],
        "links": host.Links or [],
    }


def to_container_config(body: dt.ContainerCreate) -> ContainerConfig:
    """Translate a create body; InvalidArgument names the docker field at fault."""
    _check_config(body)
    host = body.HostConfig or dt.HostConfig()
    resources = to_resources(host)
    log_config = host.LogConfig or dt.LogConfig()
    if log_config.Type not in _LOG_TYPES:
        raise _unsupported(
            "HostConfig.LogConfig.Type",
            f"log driver {log_config.Type!r} is not supported (pouch writes "
            "the CRI log format; use json-file or local)",
        )
    policy = _restart_policy(host.RestartPolicy)
    entrypoint = _slice(body.Entrypoint)
    if entrypoint == [""]:
        entrypoint = []  # docker's --entrypoint "": drop the image's entrypoint
    mounts = [bind_mount(b, i, host.VolumeDriver) for i, b in enumerate(host.Binds or [])]
    mounts += [mount_spec(m, i) for i, m in enumerate(host.Mounts or [])]
    taken = {m["target"] for m in mounts}
    mounts += [{"type": "volume", "target": t} for t in body.Volumes or {} if t not in taken]
    networks, endpoints = network_names(body, host)
    data: dict[str, Any] = {
        "image": body.Image,
        "entrypoint": entrypoint,
        "cmd": _slice(body.Cmd),
        "env": body.Env or [],
        "working_dir": body.WorkingDir,
        "user": body.User,
        "hostname": body.Hostname,
        "domainname": body.Domainname,
        "labels": body.Labels or {},
        "mounts": mounts,
        "ports": port_mappings(host.PortBindings or {}),
        "exposed_ports": list(body.ExposedPorts or {}),
        "publish_all_ports": host.PublishAllPorts,
        "networks": networks,
        "endpoints": endpoints,
        "network_container": host.NetworkMode.removeprefix("container:")
        if host.NetworkMode.startswith("container:")
        else "",
        "restart_policy": policy,
        "runtime": host.Runtime,
        "read_only_rootfs": host.ReadonlyRootfs,
        "privileged": host.Privileged,
        "cap_add": _slice(host.CapAdd) or [],
        "cap_drop": _slice(host.CapDrop) or [],
        **security_options(host.SecurityOpt or []),
        "sysctls": host.Sysctls or {},
        "tmpfs": host.Tmpfs or {},
        "ulimits": [{"name": u.Name, "soft": u.Soft, "hard": u.Hard} for u in host.Ulimits or []],
        "stop_signal": body.StopSignal or "SIGTERM",
        "init": bool(host.Init),
        **_rich(body),
        "enable_lxcfs": host.EnableLxcfs,
        "storage_opt": host.StorageOpt or {},
        "userns_mode": host.UsernsMode,
        "tty": body.Tty,
        "open_stdin": body.OpenStdin,
        "stdin_once": body.StdinOnce,
        "auto_remove": host.AutoRemove,
        "log_options": log_config.Config or {},
        "log_driver": log_config.Type,
        **_shared_settings(host),
    }
    if body.StopTimeout is not None:
        data["stop_timeout"] = body.StopTimeout
    data["links"] = list(dict.fromkeys([*data["links"], *endpoint_links(body)]))
    config: ContainerConfig = _convert(data, ContainerConfig)
    healthcheck = to_healthcheck(body.Healthcheck)
    return msgspec.structs.replace(config, resources=resources, healthcheck=healthcheck)


# Labels the docker CLI can set (``--label io.pouch.rich-mode=systemd``) to ask
# for what PouchContainer's API carries as Rich, RichMode and InitScript.
LABEL_RICH_MODE = "io.pouch.rich-mode"
LABEL_INITSCRIPT = "io.pouch.initscript"


def _rich(body: dt.ContainerCreate) -> dict[str, Any]:
    labels = body.Labels or {}
    mode = body.RichMode or labels.get(LABEL_RICH_MODE, "")
    script = body.InitScript or labels.get(LABEL_INITSCRIPT, "")
    rich = body.Rich or LABEL_RICH_MODE in labels or LABEL_INITSCRIPT in labels
    return {"rich": rich, "rich_mode": mode, "initscript": script}


def exec_config(body: dt.ExecCreate) -> ExecConfig:
    cmd = _slice(body.Cmd)
    if not cmd:
        raise InvalidArgument("no command given", field="Cmd")
    data = {
        "cmd": cmd,
        "env": body.Env or [],
        "user": body.User,
        "working_dir": body.WorkingDir,
        "tty": body.Tty,
        "stdin": body.AttachStdin,
        "privileged": body.Privileged,
    }
    try:
        return msgspec.convert(data, ExecConfig)
    except msgspec.ValidationError as exc:
        message = str(exc).replace("`$.cmd", "`$.Cmd").replace("`$.env", "`$.Env")
        message = message.replace("working_dir", "WorkingDir")
        raise InvalidArgument(message) from None
