"""Disk usage: ``docker system df``, and the bytes a container or volume prune frees.

``DiskUsage`` measures what the image store, the containers' writable
layers and the volumes take: layers once each (``LayersSize``), an image's
layers shared with other images (``SharedSize``), a container's writable
layer (``SizeRw``) and with its image (``SizeRootFs``), a volume's files
and how many containers use it. The prunes of containers and volumes are
the owners' (``Containers``, ``Volumes``); this part measures what they will
remove first, so their answers carry a real ``SpaceReclaimed``. Walks run in
worker threads.
"""

from __future__ import annotations

import builtins
import os
import stat
from collections import Counter
from collections.abc import Sequence

import anyio
import msgspec

from pouch.drivers import VolumeInfo
from pouch.engine._containers import Containers
from pouch.engine._records import Records
from pouch.engine._volumes import Volumes, prunable
from pouch.errors import NoSuchObject
from pouch.images import Image, ImageStore, chain_ids
from pouch.models import Container, State

__all__ = ["DiskReport", "DiskUsage", "ImageUsage", "VolumeUsage"]


class ImageUsage(msgspec.Struct, kw_only=True):
    image: Image
    size: int
    shared_size: int
    containers: int


class ContainerUsage(msgspec.Struct, kw_only=True):
    container: Container
    size_rw: int
    size_root_fs: int


class VolumeUsage(msgspec.Struct, kw_only=True):
    volume: VolumeInfo
    size: int  # -1 where the driver's files are not on this host
    ref_count: int


class DiskReport(msgspec.Struct, kw_only=True):
    layers_size: int
    images: list[ImageUsage]
    containers: list[ContainerUsage]
    volumes: list[VolumeUsage]


def tree_size(path: str) -> int:
    """Apparent bytes of everything but directories under ``path``, hard links once."""
    total, seen = 0, set()
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


class DiskUsage:
    def __init__(
        self, records: Records, containers: Containers, volumes: Volumes, store: ImageStore
    ) -> None:
        self.records = records
        self.containers = containers
        self.volumes = volumes
        self.store = store

    def _layer_sizes(self, image: Image) -> dict[str, int]:
        sizes = {}
        for chain in chain_ids(image.diff_ids):
            snapshot = self.store.snapshots.get(chain)
            sizes[chain] = snapshot.size if snapshot is not None else 0
        return sizes

    def container_size(self, container: Container) -> int:
        try:
            return self.store.snapshots.usage(container.id).size
        except NoSuchObject:
            return 0

    def _volume_size(self, info: VolumeInfo) -> int:
        if not info.mountpoint or not os.path.isdir(info.mountpoint):
            return -1
        return tree_size(info.mountpoint)

    def _report(self, volumes: builtins.list[VolumeInfo]) -> DiskReport:
        images = self.store.list()
        containers = self.records.all()
        layers = {image.id: self._layer_sizes(image) for image in images}
        users = Counter(chain for sizes in layers.values() for chain in sizes)
        every_layer: dict[str, int] = {}
        for sizes in layers.values():
            every_layer.update(sizes)
        by_image = Counter(c.image_id for c in containers)
        image_usage = [
            ImageUsage(
                image=image,
                size=image.size,
                shared_size=sum(s for c, s in layers[image.id].items() if users[c] > 1),
                containers=by_image[image.id],
            )
            for image in images
        ]
        image_size = {image.id: image.size for image in images}
        container_usage = []
        for container in containers:
            rw = self.container_size(container)
            root = rw + image_size.get(container.image_id, 0)
            container_usage.append(
                ContainerUsage(container=container, size_rw=rw, size_root_fs=root)
            )
        refs: Counter[str] = Counter()
        for container in containers:
            names = {name for _, name in container.volumes}
            names |= {m.source for m in container.config.mounts if m.type == "volume"}
            refs.update(names)
        volume_usage = [
            VolumeUsage(volume=v, size=self._volume_size(v), ref_count=refs[v.name])
            for v in volumes
        ]
        return DiskReport(
            layers_size=sum(every_layer.values()),
            images=image_usage,
            containers=container_usage,
            volumes=volume_usage,
        )

    async def df(self) -> DiskReport:
        """What images, containers and volumes take on disk, as ``docker system df -v``."""
        volumes = await self.volumes.list()
        return await anyio.to_thread.run_sync(self._report, volumes)

    async def prune_containers(
        self,
        *,
        until: float | None = None,
        labels: Sequence[str] = (),
        not_labels: Sequence[str] = (),
    ) -> tuple[builtins.list[str], int]:
        """``Containers.prune``, and the bytes the removed containers' layers took."""

        def measure() -> dict[str, int]:
            stopped = [c for c in self.records.all() if c.state.status != State.RUNNING]
            return {c.id: self.container_size(c) for c in stopped}

        sizes = await anyio.to_thread.run_sync(measure)
        deleted = await self.containers.prune(until=until, labels=labels, not_labels=not_labels)
        return deleted, sum(sizes.get(container_id, 0) for container_id in deleted)

    async def prune_volumes(
        self,
        *,
        all: bool = True,
        labels: Sequence[str] = (),
        not_labels: Sequence[str] = (),
    ) -> tuple[builtins.list[str], int]:
        """``Volumes.prune``, and the bytes the removed volumes' files took."""
        in_use = self.volumes.in_use()
        unused = [  # only what the prune may take is measured
            v
            for v in await self.volumes.list()
            if v.name not in in_use and prunable(v, all=all, labels=labels, not_labels=not_labels)
        ]

        def measure() -> dict[str, int]:
            return {v.name: max(self._volume_size(v), 0) for v in unused}

        sizes = await anyio.to_thread.run_sync(measure)
        deleted = await self.volumes.prune(all=all, labels=labels, not_labels=not_labels)
        return deleted, sum(sizes.get(name, 0) for name in deleted)
