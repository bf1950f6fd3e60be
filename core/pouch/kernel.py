"""The plugin kernel: stevedore finds plugins, pluggy dispatches their hooks.

Only public interfaces: stevedore's ``NamedExtensionManager`` (the names
come from its entry-point cache first, so a disabled plugin is never
imported; load failures arrive through ``on_load_failure_callback``) and
pluggy's ``PluginManager.register`` and ``subset_hook_caller`` (a plugin's
registration hooks are called for that plugin alone).

The kernel registers the built-in plugins first (``BUILTIN_PLUGINS``), then every
installed distribution's ``pouch.plugins`` entry point the configuration
selects. Each plugin's registration hooks are called as it registers, so a
plugin added late (``Engine.register_plugin``) still contributes its drivers. A
plugin that fails at import or in a registration hook is recorded with the
reason and left out; the kernel itself never fails because of one.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import types
from collections.abc import Callable, Iterator
from typing import Any, Generic, Literal, TypeVar

import msgspec
import pluggy
import stevedore

from pouch import hookspecs
from pouch.builders import Builder
from pouch.config import EngineConfig
from pouch.drivers import NetworkDriver, Runtime, Service, VolumeDriver
from pouch.errors import (
    NoSuchBuilder,
    NoSuchDriver,
    NoSuchNetworkDriver,
    NoSuchRuntime,
    NoSuchVolumeDriver,
    PluginError,
    PluginSkip,
)
from pouch.markers import PROJECT
from pouch.telemetry import trace_hook_calls

__all__ = ["BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "ESSENTIAL_PLUGINS", "Kernel", "PluginStatus"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pouch.plugins"

# Built-in behaviour is written as plugins too: (name, module).
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("networks", "pouch.builtins.networks"),
    ("local-volumes", "pouch.builtins.volumes"),
    ("init", "pouch.builtins.init"),
    ("rich", "pouch.builtins.rich"),
    ("oci-hooks", "pouch.builtins.oci_hooks"),
    ("seccomp", "pouch.builtins.seccomp"),
    ("quota", "pouch.builtins.quota"),
)
# These cannot be disabled: without them the engine cannot run a container.
ESSENTIAL_PLUGINS = frozenset({"networks"})

D = TypeVar("D", Runtime, NetworkDriver, VolumeDriver, Builder)


class PluginStatus(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One plugin as ``pouch plugin ls`` shows it."""

    name: str
    state: Literal["loaded", "skipped", "failed", "disabled"]
    reason: str = ""
    module: str = ""
    version: str = ""
    builtin: bool = False
    provides: list[str] = []


class Registry(Generic[D]):
    """Drivers of one kind by name; an unknown name lists the available ones."""

    def __init__(self, kind: str, missing: type[NoSuchDriver]) -> None:
        self.kind = kind
        self._missing = missing
        self._drivers: dict[str, tuple[D, str]] = {}

    def add(self, driver: D, plugin: str) -> None:
        name = getattr(driver, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} {driver!r} has no name")
        if name in self._drivers:
            owner = self._drivers[name][1]
            raise ValueError(f"{self.kind} {name!r} is already provided by plugin {owner!r}")
        self._drivers[name] = (driver, plugin)

    def drop_plugin(self, plugin: str) -> None:
        for name in [n for n, (_, p) in self._drivers.items() if p == plugin]:
            del self._drivers[name]

    def get(self, name: str) -> D:
        try:
            return self._drivers[name][0]
        except KeyError:
            raise self._missing(name, self._drivers) from None

    def plugin_of(self, name: str) -> str:
        return self._drivers[name][1] if name in self._drivers else ""

    def names(self) -> list[str]:
        return sorted(self._drivers)

    def __contains__(self, name: object) -> bool:
        return name in self._drivers

    def __iter__(self) -> Iterator[D]:
        return iter([d for d, _ in self._drivers.values()])


class Kernel:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        trace_hook_calls(self.pm)
        self.runtimes: Registry[Runtime] = Registry("runtime", NoSuchRuntime)
        self.networks: Registry[NetworkDriver] = Registry("network driver", NoSuchNetworkDriver)
        self.volumes: Registry[VolumeDriver] = Registry("volume driver", NoSuchVolumeDriver)
        self.builders: Registry[Builder] = Registry("image builder", NoSuchBuilder)
        self.services: list[tuple[Service, str]] = []
        self._status: dict[str, PluginStatus] = {}

    # -- discovery -----------------------------------------------------------

    def load(self) -> None:
        """Register the built-ins, then the selected installed plugins."""
        for name, module in BUILTIN_PLUGINS:
            if not self._selected(name):
                self._record(PluginStatus(name=name, state="disabled", builtin=True, module=module))
                continue
            try:
                plugin = importlib.import_module(module)
            except Exception as exc:  # a broken built-in is still only one plugin
                self._record_failure(name, module, exc, builtin=True)
                continue
            self.register(plugin, name, builtin=True, module=module)
        if self.config.discover_plugins:
            self._discover()

    def _selected(self, name: str) -> bool:
        if name in ESSENTIAL_PLUGINS:
            return True
        selection = self.config.plugins
        if name in selection.disable:
            return False
        return not selection.enable or name in selection.enable

    def _discover(self) -> None:
        # The names first (from stevedore's entry-point cache), so that a
        # disabled plugin's code is never imported; then only the selected ones.
        scan: stevedore.NamedExtensionManager[Any] = stevedore.NamedExtensionManager(
            ENTRY_POINT_GROUP, names=[]
        )
        selected: list[str] = []
        for ep in scan.list_entry_points():
            if self._selected(ep.name):
                selected.append(ep.name)
            else:
                self._record(PluginStatus(name=ep.name, state="disabled", module=ep.value))

        def failed(_manager: Any, ep: importlib.metadata.EntryPoint, exc: BaseException) -> None:
            self._record_failure(ep.name, ep.value, exc, version=_version_of(ep))

        manager: stevedore.NamedExtensionManager[Any] = stevedore.NamedExtensionManager(
            ENTRY_POINT_GROUP,
            names=selected,
            name_order=True,
            invoke_on_load=False,
            on_load_failure_callback=failed,
            on_missing_entrypoints_callback=None,
        )
        for ext in manager:
            if ext.name in self._status:
                log.warning(
                    "plugin %s: name already taken, entry point %s ignored",
                    ext.name,
                    ext.entry_point.value,
                )
                continue
            self.register(
                ext.plugin,
                ext.name,
                module=ext.entry_point.value,
                version=_version_of(ext.entry_point),
            )

    # -- registration --------------------------------------------------------

    def register(
        self,
        plugin: object,
        name: str,
        *,
        builtin: bool = False,
        module: str = "",
        version: str = "",
    ) -> PluginStatus:
        """Register ``plugin`` and collect its drivers; never raises for the plugin's faults."""
        if not module:
            module = getattr(plugin, "__name__", type(plugin).__qualname__)
        try:
            self.pm.register(plugin, name)
        except Exception as exc:
            return self._record_failure(name, module, exc, builtin=builtin, version=version)
        provides: list[str] = []
        try:
            provides = self._collect(name, plugin)
        except Exception as exc:
            self._forget(name)
            return self._record_failure(name, module, exc, builtin=builtin, version=version)
        status = PluginStatus(
            name=name,
            state="loaded",
            module=module,
            version=version,
            builtin=builtin,
            provides=provides,
        )
        self._record(status)
        return status

    def _collect(self, name: str, plugin: object) -> list[str]:
        provides: list[str] = []
        kinds: tuple[tuple[str, Registry[Any] | None, str], ...] = (
            ("pouch_add_runtimes", self.runtimes, "runtime"),
            ("pouch_add_network_drivers", self.networks, "network"),
            ("pouch_add_volume_drivers", self.volumes, "volume"),
            ("pouch_add_builders", self.builders, "builder"),
            ("pouch_add_services", None, "service"),
        )
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        for hook_name, registry, label in kinds:
            # This plugin's implementations only: each plugin's failure is its own.
            caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
            for result in caller(config=self.config):
                for item in result or ():
                    if registry is None:
                        self.services.append((item, name))
                    else:
                        registry.add(item, name)
                    provides.append(f"{label}:{item.name}")
        return provides

    def _forget(self, name: str) -> None:
        for registry in (self.runtimes, self.networks, self.volumes, self.builders):
            registry.drop_plugin(name)
        self.services = [(s, p) for s, p in self.services if p != name]
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)

    def _record(self, status: PluginStatus) -> None:
        self._status[status.name] = status

    def _record_failure(
        self,
        name: str,
        module: str,
        exc: BaseException,
        *,
        builtin: bool = False,
        version: str = "",
    ) -> PluginStatus:
        if isinstance(exc, PluginSkip):
            status = PluginStatus(
                name=name,
                state="skipped",
                reason=exc.reason,
                module=module,
                version=version,
                builtin=builtin,
            )
        else:
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("plugin %s failed to load: %s", name, reason)
            status = PluginStatus(
                name=name,
                state="failed",
                reason=reason,
                module=module,
                version=version,
                builtin=builtin,
            )
        self._record(status)
        return status

    def plugins(self) -> list[PluginStatus]:
        return list(self._status.values())

    # -- dispatch ------------------------------------------------------------

    def call(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Broadcast a lifecycle hook; a raising plugin becomes ``PluginError`` naming it."""
        caller: Callable[..., list[Any]] = getattr(self.pm.hook, hook_name)
        try:
            return caller(**kwargs)
        except PluginError:
            raise
        except Exception as exc:
            plugin = self._plugin_in_traceback(hook_name, exc)
            if plugin is None:
                raise
            if getattr(exc, "status", 500) < 500:
                raise  # a deliberate refusal (InvalidArgument …) passes through as is
            raise PluginError(plugin, f"{hook_name}: {type(exc).__name__}: {exc}") from exc

    def _plugin_in_traceback(self, hook_name: str, exc: BaseException) -> str | None:
        # pluggy reports which hook failed, not which implementation: the
        # implementations' code objects (public ``HookImpl.function``) are
        # matched against the frames of the traceback.
        codes = {
            impl.function.__code__: impl.plugin_name
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls()
            if hasattr(impl.function, "__code__")
        }
        tb: types.TracebackType | None = exc.__traceback__
        found = None
        while tb is not None:
            found = codes.get(tb.tb_frame.f_code, found)
            tb = tb.tb_next
        return found


def _version_of(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is not None:
        return str(dist.version)
    # stevedore's scan cache rebuilds entry points without their distribution.
    for candidate in importlib.metadata.entry_points(group=ep.group, name=ep.name):
        if candidate.value == ep.value and candidate.dist is not None:
            return str(candidate.dist.version)
    return ""
