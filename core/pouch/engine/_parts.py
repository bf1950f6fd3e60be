"""The engine's parts, built once the store is open and the task group runs.

Each part receives what it needs in its constructor; ``build`` is the one
place that knows the wiring, so the facade stays a list of delegations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import anyio.abc

from pouch.config import EngineConfig
from pouch.distribution import Source
from pouch.engine._archive import ContainerFiles
from pouch.engine._attach import Attachments
from pouch.engine._commit import Commits
from pouch.engine._containers import Containers
from pouch.engine._create import Creator
from pouch.engine._health import Healthchecks
from pouch.engine._image_archives import ImageArchives
from pouch.engine._images import Images
from pouch.engine._io import ContainerIO
from pouch.engine._networks import Networks
from pouch.engine._reconcile import Reconciler
from pouch.engine._records import Records
from pouch.engine._registry_lookup import RegistryLookup
from pouch.engine._releases import Releases
from pouch.engine._repair import Repairs
from pouch.engine._runs import Runs
from pouch.engine._sandboxes import Sandboxes
from pouch.engine._usage import DiskUsage
from pouch.engine._volumes import Volumes
from pouch.events import EventBus
from pouch.images import ImageStore
from pouch.kernel import Kernel
from pouch.store import ContainerTable, Database, NetworkTable, VolumeStageTable

__all__ = ["Part", "Parts", "build"]


@dataclass(frozen=True)
class Parts:
    records: Records
    networks: Networks
    sandboxes: Sandboxes
    releases: Releases
    volumes: Volumes
    runs: Runs
    creator: Creator
    containers: Containers
    io: ContainerIO
    attachments: Attachments
    images: Images
    reconciler: Reconciler
    files: ContainerFiles
    commits: Commits
    disk: DiskUsage
    registry: RegistryLookup
    health: Healthchecks


def build(
    config: EngineConfig,
    kernel: Kernel,
    events: EventBus,
    db: Database,
    store: ImageStore,
    task_group: anyio.abc.TaskGroup,
    default_runtime: Callable[[], str],
) -> Parts:
    records = Records(ContainerTable(db), events)
    networks = Networks(config, kernel, NetworkTable(db), records, events)
    releases = Releases(task_group)
    sandboxes = Sandboxes(records, networks, events, config.run_root, releases)
    volumes = Volumes(config, kernel, records, VolumeStageTable(db), events)

    # --rm acts after an exit the runs see; removal itself is the containers' part.
    async def auto_remove(container_id: str) -> None:
        await containers.auto_remove(container_id)

    io = ContainerIO(kernel, records)
    health = Healthchecks(records, io, task_group)
    runs = Runs(config, kernel, records, sandboxes, store, task_group, auto_remove, health)
    containers = Containers(kernel, records, runs, volumes, store, releases)
    creator = Creator(config, kernel, records, networks, volumes, store, default_runtime)

    def peers(registry: str, repository: str) -> list[Source]:
        found = kernel.pm.hook.pouch_blob_peers(
            config=config, registry=registry, repository=repository
        )
        return [source for sources in found for source in sources]

    images = Images(config, store, records, events, ImageArchives(store, events), peers)
    return Parts(
        records=records,
        networks=networks,
        sandboxes=sandboxes,
        releases=releases,
        volumes=volumes,
        runs=runs,
        creator=creator,
        containers=containers,
        io=io,
        attachments=Attachments(kernel, records, task_group),
        images=images,
        reconciler=Reconciler(
            kernel,
            records,
            runs,
            volumes,
            task_group,
            auto_remove,
            Repairs(config.root, config.run_root, records, store),
        ),
        files=ContainerFiles(config, records, store, sandboxes),
        commits=Commits(records, containers, store),
        disk=DiskUsage(records, containers, volumes, store),
        registry=RegistryLookup(lambda: images.distribution),
        health=health,
    )


T = TypeVar("T")


class Part(Generic[T]):
    """A read-only attribute of the engine that is one of the running engine's parts."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __get__(self, engine: Any, owner: type | None = None) -> T:
        return cast(T, getattr(engine._p, self.name))
