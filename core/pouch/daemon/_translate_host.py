"""Docker's host-side settings → pouch's: ``Binds``, ``Mounts``, ``PortBindings``, networks.

Part of ``pouch.daemon.translate``: each function returns the plain data of a
pouch model (``Mount``, ``PortMapping``, network names) for ``msgspec.convert``
to validate, and raises InvalidArgument naming the docker field at fault.
"""

from __future__ import annotations

from typing import Any

from pouch.daemon import docker_types as dt
from pouch.errors import InvalidArgument

__all__ = ["bind_mount", "mount_spec", "network_names", "port_mappings", "split_ports"]


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


def network_names(body: dt.ContainerCreate, host: dt.HostConfig) -> list[str]:
    mode = host.NetworkMode
    if body.NetworkDisabled:
        return ["none"]
    if mode.startswith("container:"):
        raise _unsupported(
            "HostConfig.NetworkMode", "joining another container's network is not supported yet"
        )
    networks = [] if mode in ("", "default") else [mode]
    endpoints = body.NetworkingConfig.EndpointsConfig if body.NetworkingConfig else None
    for name in endpoints or {}:
        if name not in networks and not (name in ("default", "bridge") and not networks):
            networks.append(name)
    return networks
