"""The container records: lookup, per-container locks and container events.

``Records`` owns the container table, the lock of each container and the
publishing of container events. Every part that reads or changes a container
goes through it, so "take the lock, read the latest record" means one thing
everywhere. It knows nothing of runtimes, networks or volumes.
"""

from __future__ import annotations

import builtins
import logging
from typing import Any

import anyio

from pouch.engine._filters import check_filters, container_matches
from pouch.errors import InvalidArgument, NoSuchContainer
from pouch.events import Event, EventBus
from pouch.kernel import Kernel
from pouch.models import Container, State
from pouch.store import ContainerTable

__all__ = ["ACTIVE", "Records", "call_hook"]

log = logging.getLogger(__name__)

# States in which a container counts as running for ``ps`` and ``wait``.
ACTIVE = (State.RUNNING, State.PAUSED, State.RESTARTING)


class Records:
    def __init__(self, table: ContainerTable, events: EventBus) -> None:
        self.table = table
        self.events = events
        self._locks: dict[str, anyio.Lock] = {}
        self._changes: dict[str, anyio.Event] = {}

    def lock(self, container_id: str) -> anyio.Lock:
        """The lock every change to ``container_id`` is made under."""
        return self._locks.setdefault(container_id, anyio.Lock())

    def forget_lock(self, container_id: str) -> None:
        self._locks.pop(container_id, None)

    def lookup(self, ref: str) -> Container:
        """By full ID, by name, or by a unique ID prefix, as docker resolves them."""
        if not ref:
            raise InvalidArgument("container reference is empty", field="container")
        found = self.table.get(ref) or self.table.by_name(ref.lstrip("/"))
        if found is not None:
            return found
        if all(c in "0123456789abcdef" for c in ref):
            matches = self.table.by_prefix(ref)
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(
                    f"{ref!r} matches {len(matches)} containers; give more of the ID",
                    field="container",
                )
        raise NoSuchContainer(ref)

    def get(self, container_id: str) -> Container | None:
        return self.table.get(container_id)

    def by_name(self, name: str) -> Container | None:
        return self.table.by_name(name)

    def all(self) -> builtins.list[Container]:
        return self.table.all()

    def list(
        self, *, all: bool = False, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[Container]:
        """Running containers (``all``: every one) matching docker's ``ps`` filters."""
        check_filters(filters or {})
        return [
            c
            for c in self.table.all()
            if (all or c.state.status in ACTIVE) and (not filters or container_matches(c, filters))
        ]

    def changed(self, container_id: str) -> anyio.Event:
        """An event set at the next change of ``container_id``'s record (put or delete)."""
        return self._changes.setdefault(container_id, anyio.Event())

    def _notify(self, container_id: str) -> None:
        event = self._changes.pop(container_id, None)
        if event is not None:
            event.set()

    def put(self, container: Container) -> None:
        self.table.put(container)
        self._notify(container.id)

    def add(self, container: Container) -> None:
        self.table.add(container)

    def delete(self, container_id: str) -> None:
        self.table.delete(container_id)
        self._notify(container_id)

    def publish(self, container: Container, action: str, **extra: str) -> Event:
        """A container event with docker's attributes: name, image and the labels."""
        attributes = {"name": container.name, "image": container.config.image}
        attributes.update(container.config.labels)
        attributes.update(extra)
        return self.events.publish("container", action, container.id, attributes)


def call_hook(kernel: Kernel, name: str, **kwargs: Any) -> None:
    """Broadcast a lifecycle hook; a failing plugin is logged, never fatal here."""
    try:
        kernel.call(name, **kwargs)
    except Exception:
        log.exception("hook %s failed", name)
