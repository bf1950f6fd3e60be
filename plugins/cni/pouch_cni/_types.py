"""CNI data as msgspec structs: results, errors, version answers, cache entries.

Field names are the spec's, verbatim (``containerId``, ``ifName``). Results
are decoded leniently (plugins may add fields) and cached as the raw JSON the
plugin printed, so the ``prevResult`` handed back on DEL or CHECK is exactly
what the chain produced, never a lossy re-encoding.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pouch.errors import PouchError

__all__ = [
    "DECODING_FAILURE",
    "DNS",
    "IO_FAILURE",
    "NOT_AVAILABLE",
    "NOT_AVAILABLE_LIMITED",
    "TRY_AGAIN_LATER",
    "CNIError",
    "CacheEntry",
    "ErrorResult",
    "IPConfig",
    "Interface",
    "MissingPlugin",
    "Result",
    "VersionResult",
]

# Well-known error codes of the spec (1-99 are reserved for it).
IO_FAILURE = 5
DECODING_FAILURE = 6
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50
NOT_AVAILABLE_LIMITED = 51


class Interface(msgspec.Struct, omit_defaults=True, kw_only=True):
    name: str
    mac: str = ""
    mtu: int = 0
    sandbox: str = ""


class IPConfig(msgspec.Struct, omit_defaults=True, kw_only=True):
    address: str
    gateway: str = ""
    interface: int | None = None


class DNS(msgspec.Struct, omit_defaults=True, kw_only=True):
    nameservers: list[str] = []
    domain: str = ""
    search: list[str] = []
    options: list[str] = []


class Result(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The success result of ADD (spec 1.0 shape)."""

    cniVersion: str = ""
    interfaces: list[Interface] = []
    ips: list[IPConfig] = []
    routes: list[dict[str, Any]] = []
    dns: DNS = msgspec.field(default_factory=DNS)

    def sandbox_interface(self, ifname: str) -> tuple[int, Interface] | None:
        """The interface created inside the namespace under ``ifname``."""
        for index, interface in enumerate(self.interfaces):
            if interface.name == ifname and interface.sandbox:
                return index, interface
        return None


class ErrorResult(msgspec.Struct, omit_defaults=True, kw_only=True):
    cniVersion: str = ""
    code: int = 0
    msg: str = ""
    details: str = ""


class VersionResult(msgspec.Struct, kw_only=True):
    cniVersion: str = ""
    supportedVersions: list[str] = []


class CacheEntry(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One attachment as cached on disk, keyed by (network, container, ifname).

    Written before ADD and after every plugin of the chain, so a crash at any
    point leaves enough to DEL what was added: ``added`` plugins finished ADD
    and ``result`` is the latest result of the chain (``None`` before the
    first plugin produced one).
    """

    kind: str = "cniCacheV1"
    containerId: str
    ifName: str
    networkName: str
    netns: str = ""
    # The network configuration list the ADD used, verbatim.
    config: dict[str, Any]
    cniArgs: list[tuple[str, str]] = []
    capabilityArgs: dict[str, Any] = {}
    result: dict[str, Any] | None = None
    added: int = 0
    complete: bool = False
    # pouch's own: how peers on the network find this sandbox by name.
    sandboxName: str = ""
    aliases: list[str] = []
    hostsPath: str = ""
    resolveNames: bool = False

    @property
    def key(self) -> str:
        return f"{self.networkName}-{self.containerId}-{self.ifName}"

    def decoded_result(self) -> Result | None:
        if self.result is None:
            return None
        return msgspec.convert(self.result, Result, strict=False)


class CNIError(PouchError):
    """A CNI plugin failed; carries the spec's error code, message and details."""

    def __init__(self, plugin: str, command: str, code: int, msg: str, details: str = "") -> None:
        text = f"CNI plugin {plugin} {command} failed (code {code}): {msg}"
        if details:
            text += f" ({details})"
        super().__init__(text)
        self.plugin = plugin
        self.command = command
        self.code = code
        self.msg = msg
        self.details = details


class MissingPlugin(PouchError):
    """A plugin binary a network needs is not installed."""

    def __init__(self, plugin: str, directories: list[str]) -> None:
        super().__init__(
            f"CNI plugin {plugin!r} not found in {':'.join(directories)}; "
            "install the Debian package containernetworking-plugins"
        )
        self.plugin = plugin
