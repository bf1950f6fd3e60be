"""Engine configuration: every setting has an embedded default.

``pouchd`` reads ``/etc/pouch/pouchd.toml`` over these defaults and flags over
that; a library user builds ``EngineConfig`` directly. Plugin sections are kept
as plain tables and handed to each plugin as ``config.plugin_settings(name)``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from pouch.errors import InvalidArgument

__all__ = ["EngineConfig", "PluginSelection", "RegistrySettings", "load_config"]


class PluginSelection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which installed plugins load. ``enable`` empty means all of them."""

    enable: list[str] = []
    disable: list[str] = []


class RegistrySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where images come from: mirrors first, then the origin."""

    # Mirrors tried in order for docker.io images (a P2P proxy such as
    # Dragonfly's dfdaemon is configured as a mirror too).
    mirrors: list[str] = []
    # Mirrors of other registries, by registry name, tried in order before it
    # (as containerd's hosts.toml): {"registry.k8s.io" = ["http://127.0.0.1:5000"]}.
    registry_mirrors: dict[str, list[str]] = {}
    # Registries reached over plain HTTP or with unverified TLS ("host:port").
    insecure: list[str] = []
    # Credentials written by ``pouch login``; readable by root only.
    auth_file: Path = Path("/etc/pouch/auth.json")
    # Layers downloaded at once during a pull.
    max_concurrent_downloads: int = 3
    # Seconds a registry may send nothing (connecting, before its answer, in
    # the middle of a blob) before the request counts as stalled.
    stall_timeout: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    # Attempts at each manifest and blob of a pull when the registry drops the
    # connection, stalls, answers 5xx or 429; one that received new bytes of a
    # blob does not count (the next one resumes from there).
    max_download_attempts: Annotated[int, msgspec.Meta(ge=1)] = 5
    # Back-off before the next attempt, doubled each time up to the ceiling;
    # a Retry-After of the registry is honoured up to the ceiling too.
    retry_delay: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    retry_delay_max: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    # No attempt starts later than this many seconds after a manifest or
    # blob first failed.
    retry_timeout: Annotated[float, msgspec.Meta(ge=0)] = 600.0


class EngineConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    root: Path = Path("/var/lib/pouch")
    run_root: Path = Path("/run/pouch")
    # "" lets a plugin name it (pouch_default_runtime), else the first loaded.
    default_runtime: str = ""
    default_network: str = "bridge"
    default_volume_driver: str = "local"
    plugins: PluginSelection = msgspec.field(default_factory=PluginSelection)
    registries: RegistrySettings = msgspec.field(default_factory=RegistrySettings)
    # Per-plugin tables, e.g. [plugin.runc] runtimes = {...}
    plugin: dict[str, dict[str, Any]] = {}
    # Restart policy back-off: first delay and ceiling, in seconds.
    restart_delay: float = 0.1
    restart_delay_max: float = 60.0
    # Map container root to a subordinate ID range (pouch.userns): "" none,
    # "default" (the range of "pouchremap", added when missing), "NAME[:GROUP]".
    userns_remap: str = ""
    # Directories of OCI hook files (JSON, as CRI-O and podman read them), in
    # order; a later directory's file of the same name replaces an earlier's.
    hooks_dirs: list[Path] = msgspec.field(
        default_factory=lambda: [Path("/usr/share/pouch/hooks.d"), Path("/etc/pouch/hooks.d")]
    )
    # Who creates containers' cgroups: the runtime in the cgroup filesystem
    # (/pouch/<id>), or systemd, as transient scopes in system.slice (runtimes
    # that declare Capability.SYSTEMD_CGROUP; others keep cgroupfs).
    cgroup_manager: Literal["cgroupfs", "systemd"] = "cgroupfs"
    # Load entry-point plugins (off for an engine that registers its own only).
    discover_plugins: bool = True

    def plugin_settings(self, name: str) -> dict[str, Any]:
        return dict(self.plugin.get(name, {}))

    @property
    def db_path(self) -> Path:
        return self.root / "pouch.db"


def _decode_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise ValueError(f"expected a path, got {value!r}")


def load_config(path: Path | None, **overrides: Any) -> EngineConfig:
    """Defaults, then the TOML file at ``path`` if it exists, then ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"{path}: {exc}", field="config") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(data, EngineConfig, strict=False, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"{path or 'settings'}: {exc}") from None
