"""From ``run``/``create`` flags to ``POST /containers/create``, pulling the image when needed.

The body carries only what the user set, so pouchd's defaults apply to the
rest, and every field name is the Docker Engine API's own.
"""

from __future__ import annotations

import os
import sys

from pouch.cli._errors import APIError, UsageError
from pouch.cli._http import Client
from pouch.cli._parse import (
    parse_cpus,
    parse_duration,
    parse_kv,
    parse_memory_swap,
    parse_ports,
    parse_restart,
    parse_size,
    parse_ulimit,
    parse_volume,
    read_env_file,
    resolve_env,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["build_create", "create_container", "endpoint_body", "healthcheck"]


def _host_config(args: argparse.Namespace) -> dict[str, Any]:
    binds = [entry for entry, _ in map(parse_volume, args.volume) if entry]
    _, port_bindings = parse_ports(args.publish)
    tmpfs = {}
    for item in args.tmpfs:
        target, _, options = item.partition(":")
        if not target.startswith("/"):
            raise UsageError(f"invalid --tmpfs {item!r}: the target must be an absolute path")
        tmpfs[target] = options
    host: dict[str, Any] = {
        "Binds": binds,
        "PortBindings": port_bindings,
        "PublishAllPorts": args.publish_all,
        "NetworkMode": args.network,
        "RestartPolicy": parse_restart(args.restart) if args.restart != "no" else None,
        "AutoRemove": args.rm,
        "Memory": parse_size(args.memory) if args.memory else None,
        "MemorySwap": parse_memory_swap(args.memory_swap) if args.memory_swap else None,
        "NanoCpus": parse_cpus(args.cpus) if args.cpus else None,
        "CpuShares": args.cpu_shares,
        "CpusetCpus": args.cpuset_cpus,
        "PidsLimit": args.pids_limit,
        "ReadonlyRootfs": args.read_only,
        "CapAdd": args.cap_add,
        "CapDrop": args.cap_drop,
        "Privileged": args.privileged,
        "SecurityOpt": [security_opt(o) for o in args.security_opt],
        "StorageOpt": storage_opt(args.storage_opt, args.disk_quota),
        "UsernsMode": args.userns,
        "Tmpfs": tmpfs,
        "Sysctls": parse_kv(args.sysctl, "--sysctl"),
        "Ulimits": [parse_ulimit(u) for u in args.ulimit],
        "Init": True if args.init else None,
        "EnableLxcfs": True if args.enable_lxcfs else None,
        "Runtime": args.runtime,
        **_sharing(args),
    }
    log_options = parse_kv(args.log_opt, "--log-opt")
    if args.log_driver or log_options:
        host["LogConfig"] = {"Type": args.log_driver or "", "Config": log_options}
    return {key: value for key, value in host.items() if value not in (None, False, [], {}, "")}


def _sharing(args: argparse.Namespace) -> dict[str, Any]:
    """Namespaces, devices, /etc files and other containers' mounts, as docker sends them."""
    host: dict[str, Any] = {
        "PidMode": args.pid,
        "IpcMode": args.ipc,
        "UTSMode": args.uts,
        "CgroupnsMode": args.cgroupns,
        "Devices": [parse_device(d) for d in args.device],
        "DeviceCgroupRules": args.device_cgroup_rule,
        "ShmSize": parse_size(args.shm_size) if args.shm_size else None,
        "GroupAdd": args.group_add,
        "ExtraHosts": args.add_host,
        "Dns": args.dns,
        "DnsSearch": args.dns_search,
        "DnsOptions": args.dns_option,
        "MemorySwappiness": args.memory_swappiness,
        "VolumesFrom": args.volumes_from,
        "Links": args.link,
    }
    if args.gpus:  # as the docker CLI sends --gpus, for pouchd to refuse
        host["DeviceRequests"] = [{"Count": -1, "Capabilities": [["gpu"]]}]
    return host


def parse_device(text: str) -> dict[str, str]:
    """``/dev/x[:/dev/y][:rwm]`` → docker's device mapping."""
    parts = text.split(":")
    permissions = "rwm"
    if len(parts) > 1 and parts[-1] and set(parts[-1]) <= set("rwm"):
        permissions = parts.pop()
    if len(parts) > 2 or not parts[0]:
        raise UsageError(f"invalid --device {text!r}: use HOST[:CONTAINER][:PERMISSIONS]")
    return {
        "PathOnHost": parts[0],
        "PathInContainer": parts[1] if len(parts) == 2 and parts[1] else parts[0],
        "CgroupPermissions": permissions,
    }


def storage_opt(options: list[str], disk_quota: list[str]) -> dict[str, str]:
    """``--storage-opt size=1g`` and PouchContainer's ``--disk-quota 1g``, ``/=1g``, ``.*=1g``."""
    found = parse_kv(options, "--storage-opt")
    for item in disk_quota:
        path, sep, size = item.rpartition("=")
        if sep and path not in ("/", ".*"):
            raise UsageError(
                f"--disk-quota {item!r}: only the root filesystem (/ or .*) can be limited;"
                " for a directory use a volume with --opt size=SIZE"
            )
        found["size"] = size
    return found


def security_opt(option: str) -> str:
    """``seccomp=FILE`` sends the file's content, as the docker CLI does."""
    key, _, value = option.partition("=")
    if key != "seccomp" or value in ("", "unconfined", "builtin"):
        return option
    try:
        with open(value, encoding="utf-8") as profile:
            return f"seccomp={profile.read()}"
    except OSError as exc:
        raise UsageError(f"--security-opt seccomp: cannot read {value}: {exc.strerror}") from None


def endpoint_body(ip: str | None, ip6: str | None, aliases: list[str]) -> dict[str, Any]:
    """docker's ``EndpointSettings`` for ``--ip``, ``--ip6`` and ``--network-alias``/``--alias``."""
    endpoint: dict[str, Any] = {}
    addresses = {"IPv4Address": ip, "IPv6Address": ip6}
    if any(addresses.values()):
        endpoint["IPAMConfig"] = {k: v for k, v in addresses.items() if v}
    if aliases:
        endpoint["Aliases"] = list(aliases)
    return endpoint


def healthcheck(args: argparse.Namespace) -> dict[str, Any] | None:
    """``Config.Healthcheck`` from the ``--health-*`` flags, or ``Test: ["NONE"]``."""
    durations = {
        "Interval": ("--health-interval", args.health_interval),
        "Timeout": ("--health-timeout", args.health_timeout),
        "StartPeriod": ("--health-start-period", args.health_start_period),
        "StartInterval": ("--health-start-interval", args.health_start_interval),
    }
    given = args.health_cmd is not None or args.health_retries is not None
    given = given or any(value is not None for _, value in durations.values())
    if args.no_healthcheck:
        if given:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    check: dict[str, Any] = {"Test": ["CMD-SHELL", args.health_cmd] if args.health_cmd else []}
    for field, (flag, value) in durations.items():
        check[field] = parse_duration(value, flag) if value is not None else 0
    if args.health_retries is not None and args.health_retries < 0:
        raise UsageError("--health-retries cannot be negative")
    check["Retries"] = args.health_retries or 0
    return check


def build_create(
    args: argparse.Namespace, *, attach: bool
) -> tuple[dict[str, str | None], dict[str, Any]]:
    """The query and the JSON body of ``POST /containers/create`` for these flags."""
    if args.rm and args.restart not in ("no", ""):
        raise UsageError("conflicting options: --restart and --rm")
    if args.memory_swap and not args.memory and args.memory_swap != "-1":
        raise UsageError("--memory-swap needs --memory as well")
    env: list[str] = []
    for path in args.env_file:
        env.extend(read_env_file(path))
    env.extend(resolve_env(args.env, os.environ))
    exposed, _ = parse_ports(args.publish)
    for spec in args.expose:
        exposed.update(parse_ports([spec])[0])
    anonymous: dict[str, dict[str, object]] = {
        target: {} for entry, target in map(parse_volume, args.volume) if entry is None
    }
    entrypoint = None
    if args.entrypoint is not None:
        entrypoint = [args.entrypoint] if args.entrypoint else [""]
    body: dict[str, Any] = {
        "Image": args.image,
        "Cmd": args.command or None,
        "Entrypoint": entrypoint,
        "Env": env,
        "Hostname": args.hostname,
        "User": args.user,
        "WorkingDir": args.workdir,
        "Labels": parse_kv(args.label, "--label", need_value=False),
        "ExposedPorts": exposed,
        "Volumes": anonymous,
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive and attach,
        "AttachStdin": args.interactive and attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "StopSignal": args.stop_signal,
        "StopTimeout": args.stop_timeout,
        "Healthcheck": healthcheck(args),
        "Rich": args.rich,
        "RichMode": args.rich_mode,
        "InitScript": args.initscript,
    }
    body["MacAddress"] = args.mac_address
    body = {key: value for key, value in body.items() if value not in (None, False, [], {}, "")}
    body["HostConfig"] = _host_config(args)
    endpoint = endpoint_body(args.ip, args.ip6, args.network_alias)
    if endpoint:
        if not args.network or args.network in ("bridge", "default", "host", "none"):
            raise UsageError(
                "--network-alias, --ip and --ip6 need a user-defined network (--network NAME)"
            )
        body["NetworkingConfig"] = {"EndpointsConfig": {args.network: endpoint}}
    return {"name": args.name, "platform": args.platform}, body


def create_container(
    client: Client, args: argparse.Namespace, query: dict[str, str | None], body: dict[str, Any]
) -> str:
    """Create the container (pulling per ``--pull``); print pouchd's warnings; return its ID."""

    def pull() -> None:
        from pouch.cli._registry import pull_image
        from pouch.cli.main import config_dir

        pull_image(
            client,
            config_dir(args),
            args.image,
            platform=args.platform,
            quiet=args.quiet,
            out=sys.stderr,
        )

    if args.pull == "always":
        pull()
    try:
        answer = client.post("/containers/create", query=query, json_body=body)
    except APIError as exc:
        missing = exc.not_found and "image" in exc.message.lower()
        if not missing or args.pull == "never":
            raise
        from pouch.cli._auth import split_reference

        name, tag = split_reference(args.image)
        shown = f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"
        sys.stderr.write(f"Unable to find image '{shown}' locally\n")
        pull()
        answer = client.post("/containers/create", query=query, json_body=body)
    for warning in answer.get("Warnings") or []:
        sys.stderr.write(f"WARNING: {warning}\n")
    return str(answer["Id"])
