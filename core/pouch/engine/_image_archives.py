"""The engine's image archives: what ``pouch save`` and ``pouch load`` call.

``ImageArchives`` is the part of the engine that writes images to and reads
them from tarballs (docker-archive, OCI layout). Archives are blocking file
work, done in a worker thread; the events are published from the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import BinaryIO, Literal

import anyio
import anyio.from_thread

from pouch.errors import during
from pouch.events import EventBus
from pouch.images import Image, ImageStore

__all__ = ["ImageArchives"]


class ImageArchives:
    def __init__(self, store: ImageStore, events: EventBus) -> None:
        self.store = store
        self.events = events

    async def save(
        self,
        refs: list[str],
        out: BinaryIO,
        *,
        format: Literal["docker-archive", "oci-archive"] = "docker-archive",
    ) -> None:
        """Write the images ``refs`` name to ``out`` as one tar, as ``docker save``.

        ``out`` is written from a worker thread and left open. An image named by
        id or digest is saved without a name. Raises ``NoSuchImage`` before
        anything is written when a reference names no image.
        """
        save = functools.partial(self.store.save, refs, out, format=format)
        saved = await anyio.to_thread.run_sync(save)
        for image in saved:
            name = image.names[0] if image.names else image.id
            self.events.publish("image", "save", image.id, {"name": name})

    async def load(
        self, source: BinaryIO, *, progress: Callable[[str], None] | None = None
    ) -> list[Image]:
        """Record every image of the tar ``source`` (docker-archive or OCI layout).

        ``progress`` is called in the event loop's thread with one line per
        loaded name (``Loaded image: docker.io/library/busybox:latest``) or
        ``Loaded image ID: sha256:…`` for an image without one. A refused
        archive (``InvalidArgument``: a path outside it, a digest mismatch)
        or a full disk (``NoSpace``) records nothing and leaves no blob behind.
        """
        report: Callable[[str], None] | None = None
        if progress is not None:
            callback = progress

            def report(line: str) -> None:
                anyio.from_thread.run_sync(callback, line)

        load = functools.partial(self.store.load, source, progress=report)
        with during("loading images"):
            loaded = await anyio.to_thread.run_sync(load)
        for image in loaded:
            name = image.names[0] if image.names else image.id
            self.events.publish("image", "load", image.id, {"name": name})
        return loaded
