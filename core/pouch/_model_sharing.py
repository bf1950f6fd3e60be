"""The checks of ContainerConfig's sharing settings: namespaces, devices, /etc files.

Part of ``pouch.models`` (which re-exports the public names): docker's
``--pid/--ipc/--uts`` modes, ``--device-cgroup-rule``, ``--add-host``,
``--dns*``, ``--group-add``, ``--link`` and ``--volumes-from`` values. Each
check raises ValueError with the field's name, which msgspec reports.
Like ``pouch.models`` this module does no I/O.
"""

from __future__ import annotations

import ipaddress
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pouch.models import ContainerConfig

__all__ = ["HOST_GATEWAY", "NAMESPACE_MODES", "check_sharing", "container_ref", "split_host"]

_DEVICE_RULE = re.compile(r"^[acb] (\d+|\*):(\d+|\*) [rwm]{1,3}$")
_CONTAINER_REF = re.compile(r"^/?[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NO_SPACE = re.compile(r"^\S+$")
# Values of the namespace modes besides ``container:NAME`` ("" is the default).
NAMESPACE_MODES = {
    "pid_mode": ("", "host"),
    "ipc_mode": ("", "private", "shareable", "none", "host"),
    "uts_mode": ("", "host"),
}
HOST_GATEWAY = "host-gateway"


def container_ref(mode: str) -> str:
    """``"container:web"`` → ``"web"``; "" for any other mode."""
    return mode.removeprefix("container:") if mode.startswith("container:") else ""


def _namespace_mode(field: str, mode: str) -> None:
    if mode in NAMESPACE_MODES[field] or _CONTAINER_REF.match(container_ref(mode)):
        return
    choices = ", ".join(m for m in NAMESPACE_MODES[field] if m)
    raise ValueError(f"{field} {mode!r} is not one of {choices} or container:NAME")


def split_host(entry: str) -> tuple[str, str]:
    """``"db:10.0.0.2"`` → ("db", "10.0.0.2"), as ``--add-host`` takes it (``=`` too)."""
    name, sep, address = entry.partition(":")
    if "=" in name:
        name, sep, address = entry.partition("=")
    if not sep:
        return entry, ""
    return name, address.removeprefix("[").removesuffix("]")


def _ip(text: str, what: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an IP address") from None


def _check_name_lists(config: ContainerConfig) -> None:
    """The --add-host, --dns*, --group-add, --link and --volumes-from values."""
    for entry in config.extra_hosts:
        name, address = split_host(entry)
        if not name or not _NO_SPACE.match(name) or not address:
            raise ValueError(f"extra_hosts {entry!r} is not NAME:IP")
        if address != HOST_GATEWAY:
            _ip(address, f"extra_hosts {entry!r}:")
    for server in config.dns:
        _ip(server, "dns server")
    for field in ("dns_search", "dns_options", "group_add"):
        for value in getattr(config, field):
            if not _NO_SPACE.match(value) or (field == "group_add" and ":" in value):
                raise ValueError(f"{field} {value!r} is not a single word")
    for link in config.links:
        name, _, alias = link.partition(":")
        if not _CONTAINER_REF.match(name) or (alias and not _CONTAINER_REF.match(alias)):
            raise ValueError(f"link {link!r} is not NAME[:ALIAS]")
    for source in config.volumes_from:
        name, _, mode = source.partition(":")
        if not _CONTAINER_REF.match(name) or mode not in ("", "ro", "rw"):
            raise ValueError(f"volumes_from {source!r} is not NAME[:ro|:rw]")


def _check_modes(config: ContainerConfig) -> None:
    for field in NAMESPACE_MODES:
        _namespace_mode(field, getattr(config, field))
    if config.uts_mode and config.hostname:
        raise ValueError("conflicting options: hostname and the uts_mode")
    if config.log_driver == "none" and config.log_options:
        raise ValueError("the log driver none takes no log_options")
    for rule in config.device_cgroup_rules:
        if not _DEVICE_RULE.match(rule):
            raise ValueError(
                f"device_cgroup_rules {rule!r} is not TYPE MAJOR:MINOR ACCESS (c 1:3 rwm)"
            )


def check_sharing(config: ContainerConfig) -> None:
    """Every sharing setting of ``config``; ValueError naming the field."""
    _check_modes(config)
    _check_name_lists(config)
