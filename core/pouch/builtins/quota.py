"""``--storage-opt size=…``: a container's writable layer limited by project quota.

The writable layer's directory gets a project of its own (``pouch.quota``) once
it exists (``pouch_container_rootfs``); the limit goes when the container is
removed. On a state root without project quota the container is refused with
what to change, and nothing is left behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pouch.markers import hookimpl
from pouch.models import Container, parse_size
from pouch.quota import Projects, QuotaError, clear, limit

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__ = ["projects"]


class _Root:
    path: Path | None = None


_root = _Root()


def projects(root: Path) -> Projects:
    """The project IDs the engine with state root ``root`` gave out."""
    return Projects(root / "quota" / "projects.json")


def _owner(container: Container) -> str:
    return f"container:{container.id}"


@hookimpl
def pouch_engine_started(engine: Engine) -> None:
    root = _root.path = engine.config.root
    # What a killed engine left: IDs of containers and volumes that are gone.
    table = projects(root)
    containers = {f"container:{c.id}" for c in engine.list(all=True)}
    for owner in table.owners():
        kind, _, name = owner.partition(":")
        gone = (
            owner not in containers
            if kind == "container"
            else not (root / "volumes" / name).is_dir()
        )
        if gone:
            clear(root, owner, table)


@hookimpl
def pouch_container_rootfs(container: Container, writable: Path) -> None:
    size = container.config.storage_opt.get("size")
    if not size:
        return
    root = _root.path
    if root is None:
        raise QuotaError("the engine has not started", field="storage_opt.size")
    limit(writable, _owner(container), parse_size(size), projects(root), field="storage_opt.size")


@hookimpl
def pouch_container_removed(container: Container) -> None:
    if not container.config.storage_opt.get("size") or _root.path is None:
        return
    clear(_root.path, _owner(container), projects(_root.path))
