"""pouch: a container engine built as a plugin microkernel.

The core owns the container model, the lifecycle, images and state; runtimes,
networks and volumes come from plugins (``pouch.hookspecs``). Start with
``Engine`` to use it as a library, or ``pouch.markers`` to write a plugin.

Every name here is imported on first use: the ``pouch`` CLI imports this
package and must start in a few tens of milliseconds.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.engine import Engine
    from pouch.errors import (
        Conflict,
        InvalidArgument,
        NoSuchContainer,
        NoSuchImage,
        NoSuchRuntime,
        NotSupported,
        PluginError,
        PluginSkip,
        PouchError,
    )
    from pouch.markers import hookimpl
    from pouch.models import Container, ContainerConfig, ExecConfig, State

__version__ = "0.1.0"

_HOMES = {
    "EngineConfig": "pouch.config",
    "Engine": "pouch.engine",
    "Conflict": "pouch.errors",
    "InvalidArgument": "pouch.errors",
    "NoSuchContainer": "pouch.errors",
    "NoSuchImage": "pouch.errors",
    "NoSuchRuntime": "pouch.errors",
    "NotSupported": "pouch.errors",
    "PluginError": "pouch.errors",
    "PluginSkip": "pouch.errors",
    "PouchError": "pouch.errors",
    "hookimpl": "pouch.markers",
    "Container": "pouch.models",
    "ContainerConfig": "pouch.models",
    "ExecConfig": "pouch.models",
    "State": "pouch.models",
}

__all__ = [
    "Conflict",
    "Container",
    "ContainerConfig",
    "Engine",
    "EngineConfig",
    "ExecConfig",
    "InvalidArgument",
    "NoSuchContainer",
    "NoSuchImage",
    "NoSuchRuntime",
    "NotSupported",
    "PluginError",
    "PluginSkip",
    "PouchError",
    "State",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pouch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
