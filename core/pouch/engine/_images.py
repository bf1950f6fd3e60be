"""The engine's image operations: what ``pouch pull``, ``images``, ``rmi`` … call.

``Images`` is the part of the engine that works on images: the local ones
(list, inspect, tag, remove, import, prune, save and load through
``ImageArchives``) and the registry side (pull, push,
login, logout) through one ``pouch.distribution.Distribution`` per engine.
The image store and the registry client block (files, network), so every
call goes through a worker thread and the event loop never waits on them.
Events are published here, once the operation has succeeded.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from pouch._memory import give_back
from pouch.config import EngineConfig
from pouch.distribution import (
    Distribution,
    PeerFinder,
    ProgressCallback,
    PullProgress,
    no_peers,
)
from pouch.engine._filters import prune_selects
from pouch.engine._image_archives import ImageArchives
from pouch.engine._records import Records
from pouch.errors import during
from pouch.events import EventBus
from pouch.images import Collected, Image, ImageStore, Platform, Removal, parse_reference
from pouch.oci.image import ImageConfig
from pouch.telemetry import operation

__all__ = ["Images"]

# OpenTelemetry semantic convention for the image a span is about.
IMAGE_NAME = "container.image.name"
# Where each downloaded layer came from: "<short id>: peer 10.0.0.2:5050".
LAYER_SOURCES = "pouch.image.layer_sources"


class Images:
    def __init__(
        self,
        config: EngineConfig,
        store: ImageStore,
        records: Records,
        events: EventBus,
        archives: ImageArchives,
        peers: PeerFinder = no_peers,
    ) -> None:
        """``peers``: where blobs are asked for first (the ``pouch_blob_peers`` hook)."""
        self.config = config
        self._peers = peers
        self.store = store
        """The image and layer store (content, snapshots, names)."""
        self.records = records
        self.events = events
        self.archives = archives
        self._distribution: Distribution | None = None

    @property
    def distribution(self) -> Distribution:
        """The registry client of this engine (made on first use)."""
        if self._distribution is None:
            self._distribution = Distribution(self.store, self.config.registries, peers=self._peers)
        return self._distribution

    def _image_in_use(self, image_id: str) -> bool:
        return any(c.image_id == image_id for c in self.records.all())

    async def list(self) -> list[Image]:
        return await anyio.to_thread.run_sync(self.store.list)

    async def inspect(self, ref: str) -> Image:
        return await anyio.to_thread.run_sync(self.store.resolve, ref)

    async def tag(self, ref: str, new_reference: str) -> Image:
        image = await anyio.to_thread.run_sync(self.store.tag, ref, new_reference)
        self.events.publish("image", "tag", image.id, {"name": new_reference})
        return image

    async def remove(self, ref: str, *, force: bool = False) -> Removal:
        def remove() -> Removal:
            return self.store.remove(ref, in_use=self._image_in_use, force=force)

        removal = await anyio.to_thread.run_sync(remove)
        for name in removal.untagged:
            self.events.publish("image", "untag", name, {"name": name})
        for image_id in removal.deleted:
            self.events.publish("image", "delete", image_id, {"name": ref})
        return removal

    async def import_rootfs(
        self, source: Path | BinaryIO, reference: str, *, config: ImageConfig | None = None
    ) -> Image:
        """``docker import``: a rootfs tarball (file or binary stream) as a one-layer image."""
        load = functools.partial(self.store.import_rootfs, source, reference, config=config)
        with during(f"importing {reference}"):
            image = await anyio.to_thread.run_sync(load)
        self.events.publish("image", "import", image.id, {"name": reference})
        return image

    async def prune(
        self,
        *,
        all: bool = False,
        until: float | None = None,
        labels: Sequence[str] = (),
        not_labels: Sequence[str] = (),
    ) -> Collected:
        """Delete dangling images no container uses, then unreferenced blobs and layers.

        ``all``: every image no container (running or not) uses, tagged or not.
        Only images created before ``until``, with the ``labels`` and without
        the ``not_labels`` (``key`` or ``key=value``) are considered.
        """

        def selects(image: Image) -> bool:
            own = image.config.labels or {}
            return prune_selects(
                image.created, own, until=until, labels=labels, not_labels=not_labels
            )

        prune = functools.partial(
            self.store.prune, in_use=self._image_in_use, all=all, selects=selects
        )
        collected = await anyio.to_thread.run_sync(prune)
        for name in collected.untagged:
            self.events.publish("image", "untag", name, {"name": name})
        for image_id in collected.images:
            self.events.publish("image", "delete", image_id)
        self.events.publish("image", "prune", "", {"reclaimed": str(collected.reclaimed)})
        return collected

    async def save(self, refs: builtins.list[str], out: BinaryIO, **options: Any) -> None:
        """``docker save``: see ``ImageArchives.save``."""
        await self.archives.save(refs, out, **options)

    async def load(self, source: BinaryIO, **options: Any) -> builtins.list[Image]:
        """``docker load``: see ``ImageArchives.load``."""
        try:
            return await self.archives.load(source, **options)
        finally:
            await anyio.to_thread.run_sync(give_back)

    # -- registries ------------------------------------------------------------

    async def pull(
        self,
        ref: str,
        *,
        platform: str | Platform | None = None,
        progress: ProgressCallback | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> Image:
        """Pull ``ref`` from its registry (mirrors first); the image.

        ``credentials`` (user, password) replace the stored ones for this pull.

        ``platform`` ("linux/arm64") picks from a multi-platform image; the
        default is this host's. ``progress`` receives ``PullProgress`` lines
        **on worker threads**, one line at a time: to reach the event loop,
        use ``anyio.from_thread.run_sync`` or a thread-safe queue; an
        exception it raises aborts the pull. A full disk raises ``NoSpace``
        ("pulling <name>: no space left on device writing <blob>; …") and
        leaves no partial blob. Publishes the image event "pull".
        """
        name = parse_reference(ref).familiar()
        sources: list[str] = []

        def noted(line: PullProgress) -> None:
            if line.source:
                sources.append(f"{line.id}: {line.source}")
            if progress is not None:
                progress(line)

        pull = functools.partial(
            self.distribution.pull,
            ref,
            platform=platform,
            progress=noted,
            credentials=credentials,
        )
        with operation("image.pull") as span:
            span.set_attribute(IMAGE_NAME, name)
            try:
                with during(f"pulling {name}"):
                    image = await anyio.to_thread.run_sync(pull)
            finally:
                span.set_attribute(LAYER_SOURCES, sources)
                await anyio.to_thread.run_sync(give_back)
        self.events.publish("image", "pull", name, {"name": name})
        return image

    async def push(self, ref: str, *, progress: ProgressCallback | None = None) -> str:
        """Push the local image ``ref`` to its registry; the pushed manifest's digest.

        ``progress`` is called from worker threads, as for ``pull``. Publishes "push".
        """
        name = parse_reference(ref).familiar()
        push = functools.partial(self.distribution.push, ref, progress=progress)
        with operation("image.push") as span:
            span.set_attribute(IMAGE_NAME, name)
            digest = await anyio.to_thread.run_sync(push)
        self.events.publish("image", "push", name, {"name": name, "digest": digest})
        return digest

    async def login(self, registry: str, username: str, password: str) -> str:
        """Check the credentials against ``registry`` and store them; "Login Succeeded"."""
        login = functools.partial(self.distribution.login, registry, username, password)
        return await anyio.to_thread.run_sync(login)

    async def logout(self, registry: str) -> str:
        """Forget the stored credentials of ``registry``; the status text."""
        return await anyio.to_thread.run_sync(self.distribution.logout, registry)
