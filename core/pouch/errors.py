"""The exceptions the core raises, and the ones it wraps plugin failures in.

Every error a user can cause maps to one HTTP status in the API (``status``), so
the daemon never has to guess: bad input is 400, a missing object 404, a state
conflict 409, a full disk 507. Anything else reaching the API is a bug and is
answered with 500.

A write that fails for want of space (``ENOSPC``, ``EDQUOT``) is raised as
``NoSpace`` by the code that knows what it was writing (``writing``), and said
of the operation it was part of by the code that knows that (``during``).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "Conflict",
    "InvalidArgument",
    "NoSpace",
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
    "during",
    "no_space",
    "writing",
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


class NoSpace(PouchError):
    """A write failed: the filesystem is full (``ENOSPC``) or a disk quota is reached (``EDQUOT``).

    ``path`` is what was being written, ``area`` the directory whose
    filesystem needs room (the state root, for the store's files) and
    ``doing`` the operation the write was part of (``pulling busybox:latest``).
    Answered as 507 Insufficient Storage. Whoever raises it has undone the
    half-done write, so the same request succeeds once there is room.
    """

    status = 507

    def __init__(
        self,
        path: str | Path,
        *,
        area: str | Path | None = None,
        quota: bool = False,
        doing: str = "",
    ) -> None:
        self.path = str(path)
        self.area = str(area if area is not None else path)
        self.quota = quota
        self.doing = doing
        if quota:
            text = (
                f"disk quota exceeded writing {self.path}; free space or raise the quota"
                f" on the filesystem of {self.area}"
            )
        else:
            text = (
                f"no space left on device writing {self.path}; free space on the filesystem"
                f" of {self.area}"
            )
        super().__init__(f"{doing}: {text}" if doing else text)

    def during(self, doing: str) -> NoSpace:
        """The same failure said of the operation ``doing``; unchanged if one is named already."""
        if self.doing:
            return self
        return NoSpace(self.path, area=self.area, quota=self.quota, doing=doing)


_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def no_space(
    exc: BaseException, path: str | Path | None = None, *, area: str | Path | None = None
) -> NoSpace | None:
    """The ``NoSpace`` that ``exc`` is or means (an ``OSError`` ENOSPC or EDQUOT); else None.

    ``path`` names what was being written; without it, the file name the
    error carries (a failed ``open`` has one, a failed ``write`` none), and
    without either the message points at pouchd's own directories.
    """
    if isinstance(exc, NoSpace):
        return exc
    if not isinstance(exc, OSError) or exc.errno not in _SPACE_ERRNOS:
        return None
    named = exc.filename if isinstance(exc.filename, str) and exc.filename else None
    target = path or named or "a file"
    where = area or path or named or "pouchd's state root or run root"
    return NoSpace(target, area=where, quota=exc.errno == errno.EDQUOT)


@contextmanager
def writing(path: str | Path, *, area: str | Path | None = None) -> Iterator[None]:
    """Raise ``NoSpace`` naming ``path`` (and ``area``) for an ENOSPC or EDQUOT in the block."""
    try:
        yield
    except OSError as exc:
        error = no_space(exc, path, area=area)
        if error is None:
            raise
        raise error from exc


@contextmanager
def during(doing: str) -> Iterator[None]:
    """Say a ``NoSpace`` (or an untranslated ENOSPC/EDQUOT) raised in the block is of ``doing``."""
    try:
        yield
    except (NoSpace, OSError) as exc:
        error = no_space(exc)
        if error is None:
            raise
        said = error.during(doing)
        if said is exc:
            raise
        raise said from exc


class PluginSkip(Exception):
    """Raised by a plugin that does not apply on this host.

    Raise it at import time or from a registration hook with the reason, for
    example ``PluginSkip("conmon not found on PATH")``; the plugin is then
    listed as *skipped* with that reason instead of *failed*.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
