"""The exceptions the core raises, and the ones it wraps plugin failures in.

Every error a user can cause maps to one HTTP status in the API (``status``), so
the daemon never has to guess: bad input is 400, a missing object 404, a state
conflict 409. Anything else reaching the API is a bug and is answered with 500.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "Conflict",
    "InvalidArgument",
    "NoSuchContainer",
    "NoSuchDriver",
    "NoSuchImage",
    "NoSuchNetworkDriver",
    "NoSuchObject",
    "NoSuchRuntime",
    "NoSuchVolumeDriver",
    "NotSupported",
    "PluginError",
    "PluginSkip",
    "PouchError",
]


class PouchError(Exception):
    """Base of every error the core raises on purpose."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(PouchError, ValueError):
    """The caller sent something invalid; ``field`` names it when known."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        text = f"{field}: {message}" if field else message
        super().__init__(text)
        self.field = field


class NoSuchObject(PouchError, LookupError):
    status = 404


class NoSuchContainer(NoSuchObject):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such container: {ref}")
        self.ref = ref


class NoSuchImage(NoSuchObject):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such image: {ref}")
        self.ref = ref


class NoSuchDriver(PouchError, LookupError):
    """An unknown driver name; the message lists the ones that exist.

    Answered as 400: the name came from the caller's request.
    """

    status = 400
    kind = "driver"

    def __init__(self, name: str, available: Iterable[str]) -> None:
        names = sorted(available)
        listed = ", ".join(names) if names else "none installed"
        super().__init__(f"no such {self.kind} {name!r} (available: {listed})")
        self.name = name
        self.available = names


class NoSuchRuntime(NoSuchDriver):
    kind = "runtime"


class NoSuchNetworkDriver(NoSuchDriver):
    kind = "network driver"


class NoSuchVolumeDriver(NoSuchDriver):
    kind = "volume driver"


class NoSuchBuilder(NoSuchDriver):
    kind = "image builder"


class Conflict(PouchError):
    """The request is valid but the object's state forbids it now."""

    status = 409


class NotSupported(PouchError):
    """The selected driver does not have the capability the request needs."""

    status = 400


class PluginError(PouchError):
    """A plugin raised; wraps the original and names the plugin."""

    status = 500

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"plugin {plugin!r}: {message}")
        self.plugin = plugin


class PluginSkip(Exception):
    """Raised by a plugin that does not apply on this host.

    Raise it at import time or from a registration hook with the reason, for
    example ``PluginSkip("conmon not found on PATH")``; the plugin is then
    listed as *skipped* with that reason instead of *failed*.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
