"""Reading ``GET /info``: the text ``pouch info`` prints, and the plugin list.

pouchd adds ``PouchPlugins`` to docker's fields: every plugin the engine
found, as ``{name, state, reason, version, module, builtin, provides}``,
with state ``loaded``, ``skipped``, ``failed`` or ``disabled``.
"""

from __future__ import annotations

from pouch.cli._format import bytes_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["info_lines", "plugins_of"]


def plugins_of(info: dict[str, Any]) -> list[dict[str, str]]:
    """The engine's plugins as rows for ``plugin ls`` (Name, State, Reason, ...)."""
    rows = []
    runtimes = info.get("Runtimes") or {}
    for plugin in info.get("PouchPlugins") or []:
        if not isinstance(plugin, dict):
            continue
        provides = [str(p) for p in plugin.get("provides") or []]
        rows.append(
            {
                "Name": str(plugin.get("name", "")),
                "State": str(plugin.get("state", "")),
                "Reason": str(plugin.get("reason", "")),
                "Version": str(plugin.get("version", "")),
                "Module": str(plugin.get("module", "")),
                "Builtin": "true" if plugin.get("builtin") else "false",
                "Provides": ", ".join(provides),
                "Details": str(plugin.get("reason") or "") or _provided(provides, runtimes),
            }
        )
    return rows


def _provided(provides: list[str], runtimes: dict[str, Any]) -> str:
    """What a loaded plugin provides; a runtime with its details ("runtime:kata (accel…)")."""
    shown = []
    for item in provides:
        kind, _, name = item.partition(":")
        entry = runtimes.get(name) if kind == "runtime" else None
        details = entry.get("pouchDetails") if isinstance(entry, dict) else None
        if details:
            item += " (" + ", ".join(f"{k}={v}" for k, v in sorted(details.items())) + ")"
        shown.append(item)
    return ", ".join(shown)


def _names(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(sorted(value))
    return " ".join(str(v) for v in value or [])


def info_lines(data: dict[str, Any]) -> list[str]:
    """The ``Server:`` section of ``pouch info``, in docker's layout."""
    plugins = data.get("Plugins") or {}
    lines = [
        "Server:",
        f" Containers: {data.get('Containers', 0)}",
        f"  Running: {data.get('ContainersRunning', 0)}",
        f"  Paused: {data.get('ContainersPaused', 0)}",
        f"  Stopped: {data.get('ContainersStopped', 0)}",
        f" Images: {data.get('Images', 0)}",
        f" Server Version: {data.get('ServerVersion', '')}",
        f" Storage Driver: {data.get('Driver', '')}",
    ]
    lines += [f"  {key}: {value}" for key, value in data.get("DriverStatus") or []]
    lines += [
        f" Logging Driver: {data.get('LoggingDriver', '')}",
        f" Cgroup Driver: {data.get('CgroupDriver', '')}",
        f" Cgroup Version: {data.get('CgroupVersion', '')}"
        + (" (hybrid)" if data.get("PouchCgroupLayout") == "hybrid" else ""),
        " Plugins:",
        f"  Volume: {_names(plugins.get('Volume'))}",
        f"  Network: {_names(plugins.get('Network'))}",
        f"  Log: {_names(plugins.get('Log'))}",
    ]
    pouch_plugins = plugins_of(data)
    if pouch_plugins:
        lines.append(" Pouch Plugins:")
        for plugin in pouch_plugins:
            reason = f" ({plugin['Reason']})" if plugin["Reason"] else ""
            lines.append(f"  {plugin['Name']}: {plugin['State']}{reason}")
    lines += [
        f" Runtimes: {_names(data.get('Runtimes'))}",
        f" Default Runtime: {data.get('DefaultRuntime', '')}",
        f" Security Options: {_names(data.get('SecurityOptions'))}",
        f" Kernel Version: {data.get('KernelVersion', '')}",
        f" Operating System: {data.get('OperatingSystem', '')}",
        f" OSType: {data.get('OSType', '')}",
        f" Architecture: {data.get('Architecture', '')}",
        f" CPUs: {data.get('NCPU', 0)}",
        f" Total Memory: {bytes_size(float(data.get('MemTotal') or 0))}",
        f" Name: {data.get('Name', '')}",
        f" ID: {data.get('ID', '')}",
        f" Pouch Root Dir: {data.get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(data.get('Debug'))).lower()}",
        f" Live Restore Enabled: {str(bool(data.get('LiveRestoreEnabled'))).lower()}",
    ]
    mirrors = (data.get("RegistryConfig") or {}).get("Mirrors") or []
    if mirrors:
        lines += [" Registry Mirrors:"] + [f"  {m}" for m in mirrors]
    return lines
