"""pouch: a container engine built as a plugin microkernel.

The core owns the container model, the lifecycle, images and state; runtimes,
networks and volumes come from plugins (``pouch.hookspecs``). Start with
``Engine`` to use it as a library, or ``pouch.markers`` to write a plugin.
"""

from __future__ import annotations

from pouch.config import EngineConfig
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
    # The engine pulls in anyio, the store and the kernel: load it only when used,
    # so the CLI and plugins importing ``pouch`` stay fast.
    if name == "Engine":
        from pouch.engine import Engine

        return Engine
    raise AttributeError(f"module 'pouch' has no attribute {name!r}")
