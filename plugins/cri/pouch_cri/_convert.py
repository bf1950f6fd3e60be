"""CRI configs as engine configs: a pod's infra container and a pod's container.

Pure translation, no engine calls. What the engine's model has a field for is
set there (namespaces, user, capabilities, seccomp, resources, mounts …); the
rest of a container's Linux settings travel in the ``EXTRA`` label for the
spec hook (``_spec``). A bad value raises ``InvalidArgument`` naming the
CRI field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from pouch.drivers import PortMapping
from pouch.errors import InvalidArgument
from pouch.models import Container, ContainerConfig, Resources

from . import _labels as L
from ._pb import api_pb2 as pb

__all__ = ["container_config", "modes", "propagation", "resources", "sandbox_config"]

_PROTOCOLS = {pb.TCP: "tcp", pb.UDP: "udp", pb.SCTP: "sctp"}
_PROPAGATION = {
    pb.PROPAGATION_PRIVATE: "rprivate",
    pb.PROPAGATION_HOST_TO_CONTAINER: "rslave",
    pb.PROPAGATION_BIDIRECTIONAL: "rshared",
}
_MODE_NAMES = {pb.POD: "pod", pb.CONTAINER: "container", pb.NODE: "node", pb.TARGET: "target"}


def propagation(options: list[str]) -> pb.MountPropagation:
    """The CRI propagation of a bind mount's options (as ``_mounts`` wrote them)."""
    for value, option in _PROPAGATION.items():
        if option in options:
            return value
    return pb.PROPAGATION_PRIVATE


def modes(options: pb.NamespaceOption) -> dict[str, str]:
    """The namespace modes by kind, as names: pod, container, node, target."""
    return {
        "network": _MODE_NAMES[options.network],
        "pid": _MODE_NAMES[options.pid],
        "ipc": _MODE_NAMES[options.ipc],
        "target": options.target_id,
    }


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise InvalidArgument(f"{field} is required", field=field)
    return value


def _build(fields: dict[str, Any], field: str) -> ContainerConfig:
    try:
        return msgspec.convert(fields, ContainerConfig)
    except msgspec.ValidationError as error:
        raise InvalidArgument(f"{field}: {error}", field=field) from None


def _seccomp(context: Any, field: str) -> str:
    """The engine's ``seccomp_profile`` for a CRI security context.

    No profile at all is unconfined, as the CRI defines it; ``RuntimeDefault``
    is the engine's default profile; ``Localhost`` reads the file it names.
    """
    if context.HasField("seccomp"):
        profile = context.seccomp
        kind, ref = profile.profile_type, profile.localhost_ref
    else:
        path = context.seccomp_profile_path
        if path in ("", "unconfined"):
            return "unconfined"
        if path in ("runtime/default", "docker/default"):
            return ""
        if not path.startswith("localhost/"):
            raise InvalidArgument(f"unknown seccomp profile {path!r}", field=field)
        kind, ref = pb.SecurityProfile.Localhost, path.removeprefix("localhost/")
    if kind == pb.SecurityProfile.Unconfined:
        return "unconfined"
    if kind == pb.SecurityProfile.RuntimeDefault:
        return ""
    if not ref.startswith("/"):
        raise InvalidArgument(f"localhost seccomp profile {ref!r} is not absolute", field=field)
    try:
        return Path(ref).read_text()
    except OSError as error:
        raise InvalidArgument(f"seccomp profile {ref}: {error.strerror}", field=field) from None


def _user(context: Any) -> str:
    user = ""
    if context.HasField("run_as_user"):
        user = str(context.run_as_user.value)
    elif getattr(context, "run_as_username", ""):  # a pod's context has none
        user = context.run_as_username
    if context.HasField("run_as_group"):
        if not user:
            raise InvalidArgument(
                "run_as_group needs run_as_user or run_as_username",
                field="linux.security_context.run_as_group",
            )
        user += f":{context.run_as_group.value}"
    return user


def resources(given: pb.LinuxContainerResources) -> Resources:
    fields: dict[str, Any] = {}
    if given.memory_limit_in_bytes:
        fields["memory"] = given.memory_limit_in_bytes
    if given.memory_swap_limit_in_bytes:
        fields["memory_swap"] = given.memory_swap_limit_in_bytes
    if given.cpu_quota > 0:
        fields["cpus"] = given.cpu_quota / (given.cpu_period or 100_000)
    if given.cpu_shares:
        fields["cpu_shares"] = max(2, given.cpu_shares)
    if given.cpuset_cpus:
        fields["cpuset_cpus"] = given.cpuset_cpus
    if given.cpuset_mems:
        fields["cpuset_mems"] = given.cpuset_mems
    try:
        return msgspec.convert(fields, Resources)
    except msgspec.ValidationError as error:
        raise InvalidArgument(f"linux.resources: {error}", field="linux.resources") from None


def sandbox_config(
    request: pb.RunPodSandboxRequest, *, image: str, network: str, runtime: str, infra: str
) -> tuple[str, ContainerConfig]:
    """The infra container's name and config for a RunPodSandbox request:
    the infra on runtime ``infra``, the pod's containers to come on ``runtime``."""
    config = request.config
    meta = config.metadata
    for field in ("name", "uid", "namespace"):
        _required(getattr(meta, field), f"config.metadata.{field}")
    linux = config.linux
    context = linux.security_context
    namespaces = modes(context.namespace_options)
    host_network = namespaces["network"] == "node"
    ports = [
        PortMapping(
            container_port=p.container_port,
            host_port=p.host_port,
            host_ip=p.host_ip,
            protocol=_PROTOCOLS.get(p.protocol, "tcp"),  # type: ignore[arg-type]
        )
        for p in config.port_mappings
        if p.host_port > 0 and not host_network
    ]
    extra = {
        "handler": request.runtime_handler,
        "log_directory": config.log_directory,
        "runtime": runtime,
    }
    fields: dict[str, Any] = {
        "image": image,
        "runtime": infra,
        "hostname": "" if host_network else config.hostname,
        "networks": ["host"] if host_network else [network],
        "ports": [msgspec.to_builtins(p) for p in ports],
        "dns": list(config.dns_config.servers),
        "dns_search": list(config.dns_config.searches),
        "dns_options": list(config.dns_config.options),
        "sysctls": dict(linux.sysctls),
        "ipc_mode": "host" if namespaces["ipc"] == "node" else "shareable",
        "pid_mode": "host" if namespaces["pid"] == "node" else "",
        "uts_mode": "host" if host_network else "",
        "privileged": context.privileged,
        "read_only_rootfs": context.readonly_rootfs,
        "seccomp_profile": _seccomp(context, "config.linux.security_context.seccomp"),
        "user": _user(context),
        "log_driver": "none",
        "stop_timeout": 0,
        "labels": {
            **config.labels,
            L.KIND: "sandbox",
            L.METADATA: L.written(
                {
                    "name": meta.name,
                    "uid": meta.uid,
                    "namespace": meta.namespace,
                    "attempt": meta.attempt,
                }
            ),
            L.ANNOTATIONS: L.written(dict(config.annotations)),
            L.EXTRA: L.written({**extra, "namespaces": namespaces}),
        },
    }
    name = L.sandbox_name(meta.name, meta.namespace, meta.uid, meta.attempt)
    return name, _build(fields, "config")


def _joins(pod: dict[str, str], container: dict[str, str], infra: str) -> dict[str, str]:
    """The namespace modes of a pod's container: the pod's unless it asks its own."""
    pid = {
        "node": "host",
        "pod": f"container:{infra}",
        "container": "",
        "target": f"container:{container['target']}",
    }[container["pid"]]
    return {
        "network_container": infra,
        "ipc_mode": "host" if pod["ipc"] == "node" else f"container:{infra}",
        "uts_mode": "host" if pod["network"] == "node" else f"container:{infra}",
        "pid_mode": "host" if pod["pid"] == "node" else pid,
    }


def _mounts(config: pb.ContainerConfig) -> tuple[list[dict[str, Any]], str]:
    """The bind mounts, and the rootfs propagation they need ("" for none)."""
    mounts = []
    propagations = set()
    for index, m in enumerate(config.mounts):
        _required(m.container_path, f"mounts[{index}].container_path")
        _required(m.host_path, f"mounts[{index}].host_path")
        propagation = _PROPAGATION.get(m.propagation, "rprivate")
        propagations.add(propagation)
        mounts.append(
            {
                "target": m.container_path,
                "source": m.host_path,
                "read_only": m.readonly,
                "options": [propagation],
            }
        )
    rootfs = next((p for p in ("rshared", "rslave") if p in propagations), "")
    return mounts, rootfs


def container_config(
    config: pb.ContainerConfig,
    infra: Container,
    pod: dict[str, Any],
    pod_extra: dict[str, Any],
) -> tuple[str, ContainerConfig]:
    """A pod container's name and config; ``infra`` is the pod's infra container."""
    meta = config.metadata
    _required(meta.name, "config.metadata.name")
    _required(config.image.image, "config.image.image")
    linux = config.linux
    context = linux.security_context
    mounts, rootfs_propagation = _mounts(config)
    log_options = {}
    if pod_extra.get("log_directory") and config.log_path:
        log_options["path"] = str(Path(pod_extra["log_directory"]) / config.log_path)
    extra = {
        "image": config.image.image,
        "masked_paths": list(context.masked_paths),
        "readonly_paths": list(context.readonly_paths),
        "oom_score_adj": linux.resources.oom_score_adj,
        "ambient": list(context.capabilities.add_ambient_capabilities),
        "rootfs_propagation": rootfs_propagation,
        "has_paths": bool(context.masked_paths or context.readonly_paths),
    }
    fields: dict[str, Any] = {
        "image": config.image.image,
        "runtime": pod_extra.get("runtime") or infra.runtime,
        "entrypoint": list(config.command) or None,
        "cmd": list(config.args) or None,
        "working_dir": config.working_dir,
        "env": [f"{kv.key}={kv.value}" for kv in config.envs],
        "mounts": mounts,
        "devices": [
            {
                "path_on_host": d.host_path,
                "path_in_container": d.container_path,
                "permissions": d.permissions or "rwm",
            }
            for d in config.devices
        ],
        "tty": config.tty,
        "open_stdin": config.stdin,
        "stdin_once": config.stdin_once,
        "log_options": log_options,
        "resources": msgspec.to_builtins(resources(linux.resources)),
        "privileged": context.privileged,
        "read_only_rootfs": context.readonly_rootfs,
        "cap_add": list(context.capabilities.add_capabilities),
        "cap_drop": list(context.capabilities.drop_capabilities),
        "no_new_privileges": context.no_new_privs,
        "seccomp_profile": _seccomp(context, "config.linux.security_context.seccomp"),
        "user": _user(context),
        "group_add": [str(g) for g in context.supplemental_groups],
        "stop_timeout": 0,
        **_joins(pod_extra["namespaces"], modes(context.namespace_options), infra.id),
        "labels": {
            **config.labels,
            L.KIND: "container",
            L.SANDBOX: infra.id,
            L.METADATA: L.written({"name": meta.name, "attempt": meta.attempt}),
            L.ANNOTATIONS: L.written(dict(config.annotations)),
            L.EXTRA: L.written(extra),
        },
    }
    name = L.container_name(meta.name, pod, meta.attempt)
    return name, _build(fields, "config")
