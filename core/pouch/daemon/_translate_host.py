"""Docker's host-side settings → pouch's: ``Binds``, ``Mounts``, ``PortBindings``, networks.

Part of ``pouch.daemon.translate``: each function returns the plain data of a
pouch model (``Mount``, ``PortMapping``, network names) for ``msgspec.convert``
to validate, and raises InvalidArgument naming the docker field at fault.
"""

from __future__ import annotations

from typing import Any

from pouch.daemon import docker_types as dt
from pouch.errors import InvalidArgument

__all__ = [
    "bind_mount",
    "docker_endpoint_error",
    "endpoint",
    "endpoint_links",
    "mount_spec",
    "network_names",
    "port_mappings",
    "split_ports",
]


def _unsupported(field: str, why: str) -> InvalidArgument:
    error = InvalidArgument(f"{field}: {why}")
    error.field = field
    return error


def bind_mount(text: str, index: int, volume_driver: str) -> dict[str, Any]:
    field = f"HostConfig.Binds[{index}]"
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidArgument(f"{text!r} is not SOURCE:TARGET[:OPTIONS]", field=field)
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    read_only = False
    extra: list[str] = []
    for option in options:
        if option in ("ro", "rw"):
            read_only = option == "ro"
        elif option in ("z", "Z", "nocopy"):
            continue  # SELinux relabelling and copy-up: nothing to do here
        elif option in ("private", "rprivate", "shared", "rshared", "slave", "rslave"):
            extra.append(option)
        else:
            raise InvalidArgument(f"unknown bind option {option!r} in {text!r}", field=field)
    if "/" not in source:
        mount = {"type": "volume", "source": source, "target": target, "read_only": read_only}
        if volume_driver:
            mount["driver"] = volume_driver
        return mount
    return {
        "type": "bind",
        "source": source,
        "target": target,
        "read_only": read_only,
        "options": extra,
    }


def mount_spec(spec: dt.MountSpec, index: int) -> dict[str, Any]:
    field = f"HostConfig.Mounts[{index}]"
    if spec.Type not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f"mount type {spec.Type!r} is not supported", field=f"{field}.Type")
    mount: dict[str, Any] = {
        "type": spec.Type,
        "source": spec.Source,
        "target": spec.Target,
        "read_only": spec.ReadOnly,
    }
    if spec.BindOptions is not None and spec.BindOptions.Propagation:
        mount["options"] = [spec.BindOptions.Propagation]
    if spec.VolumeOptions is not None and spec.VolumeOptions.DriverConfig is not None:
        if spec.VolumeOptions.DriverConfig.Options:
            raise _unsupported(
                f"{field}.VolumeOptions.DriverConfig.Options", "driver options are not supported"
            )
        mount["driver"] = spec.VolumeOptions.DriverConfig.Name
    if spec.TmpfsOptions is not None:
        options = []
        if spec.TmpfsOptions.SizeBytes:
            options.append(f"size={spec.TmpfsOptions.SizeBytes}")
        if spec.TmpfsOptions.Mode:
            options.append(f"mode={spec.TmpfsOptions.Mode:o}")
        mount["options"] = options
    return mount


def split_ports(key: str, field: str) -> tuple[int, str]:
    """``"80/tcp"`` → (80, "tcp"); the protocol defaults to tcp."""
    number, _, protocol = key.partition("/")
    if not number.isdigit() or not 1 <= int(number) <= 65535:
        raise InvalidArgument(f"{key!r} is not a port like 80/tcp", field=field)
    return int(number), protocol or "tcp"


def port_mappings(bindings: dict[str, list[dt.PortBinding] | None]) -> list[dict[str, Any]]:
    ports = []
    for key, entries in bindings.items():
        port, protocol = split_ports(key, "HostConfig.PortBindings")
        for entry in entries or [dt.PortBinding()]:
            host_port = entry.HostPort or "0"
            if not host_port.isdigit():
                raise InvalidArgument(
                    f"host port {entry.HostPort!r} of {key} is not a number",
                    field="HostConfig.PortBindings",
                )
            ports.append(
                {
                    "container_port": port,
                    "host_port": int(host_port),
                    "host_ip": entry.HostIp,
                    "protocol": protocol,
                }
            )
    return ports


def endpoint(settings: dt.EndpointSettings | None, field: str) -> dict[str, Any]:
    """Docker's ``EndpointSettings`` → the data of an ``Endpoint`` (refusing what it cannot)."""
    if settings is None:
        return {}
    if settings.DriverOpts:
        raise _unsupported(
            f"{field}.DriverOpts", "per-endpoint driver options are not supported by pouch"
        )
    if settings.Links and not field.startswith("NetworkingConfig."):
        raise _unsupported(f"{field}.Links", "links are set when the container is created (--link)")
    ipam = settings.IPAMConfig or {}
    unknown = set(ipam) - {"IPv4Address", "IPv6Address", "LinkLocalIPs"}
    if unknown or ipam.get("LinkLocalIPs"):
        name = sorted(unknown)[0] if unknown else "LinkLocalIPs"
        raise _unsupported(f"{field}.IPAMConfig.{name}", "is not supported by pouch")
    data: dict[str, Any] = {
        "aliases": list(settings.Aliases or []),
        "ipv4_address": ipam.get("IPv4Address") or "",
        "ipv6_address": ipam.get("IPv6Address") or "",
        "mac_address": settings.MacAddress,
    }
    return {key: value for key, value in data.items() if value}


_ENDPOINT_FIELDS = {
    "aliases": "Aliases",
    "ipv4_address": "IPAMConfig.IPv4Address",
    "ipv6_address": "IPAMConfig.IPv6Address",
    "mac_address": "MacAddress",
}


def docker_endpoint_error(exc: InvalidArgument, network: str, prefix: str) -> InvalidArgument:
    """The engine's error about ``endpoints.NETWORK.FIELD``, naming docker's field instead."""
    head = f"endpoints.{network}."
    if not exc.field or not exc.field.startswith(head):
        return exc
    name = _ENDPOINT_FIELDS.get(exc.field[len(head) :], exc.field[len(head) :])
    message = str(exc).removeprefix(f"{exc.field}: ")
    return InvalidArgument(message, field=f"{prefix}.{name}")


def endpoint_links(body: dt.ContainerCreate) -> list[str]:
    """Links asked per network (``docker run --network NET --link``): legacy links."""
    configs = body.NetworkingConfig.EndpointsConfig if body.NetworkingConfig else None
    return [link for s in (configs or {}).values() if s for link in s.Links or []]


def network_names(
    body: dt.ContainerCreate, host: dt.HostConfig
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The networks to join and the per-network endpoint settings asked for."""
    mode = host.NetworkMode
    if body.NetworkDisabled:
        return ["none"], {}
    if mode.startswith("container:"):
        return [], {}
    networks = [] if mode in ("", "default") else [mode]
    endpoints: dict[str, dict[str, Any]] = {}
    configs = body.NetworkingConfig.EndpointsConfig if body.NetworkingConfig else None
    for name, settings in (configs or {}).items():
        field = f"NetworkingConfig.EndpointsConfig.{name}"
        if name in ("default", "bridge") and not networks:
            if endpoint(settings, field):
                raise _unsupported(field, "aliases and fixed addresses need a user-defined network")
            continue
        if name not in networks:
            networks.append(name)
        found = endpoint(settings, field)
        if found:
            endpoints[name] = found
    if body.MacAddress:
        if not networks or networks[0] in ("host", "none"):
            raise _unsupported("MacAddress", "a fixed MAC address needs a user-defined network")
        endpoints.setdefault(networks[0], {}).setdefault("mac_address", body.MacAddress)
    return networks, endpoints
