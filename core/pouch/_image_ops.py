"""The engine's image operations: what ``pouch pull``, ``images``, ``rmi`` … call.

``ImageOps`` is the half of ``Engine`` that works on images. The image store
is blocking file work, so every call goes through a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from pouch.images import Image, Removal

if TYPE_CHECKING:
    from pouch.events import EventBus
    from pouch.images import ImageStore
    from pouch.store import ContainerTable

__all__ = ["ImageOps"]


class ImageOps:
    images: ImageStore
    events: EventBus
    containers: ContainerTable

    def _image_in_use(self, image_id: str) -> bool:
        return any(c.image_id == image_id for c in self.containers.all())

    async def image_list(self) -> list[Image]:
        return await anyio.to_thread.run_sync(self.images.list)

    async def image_inspect(self, ref: str) -> Image:
        return await anyio.to_thread.run_sync(self.images.resolve, ref)

    async def image_tag(self, ref: str, new_reference: str) -> Image:
        image = await anyio.to_thread.run_sync(self.images.tag, ref, new_reference)
        self.events.publish("image", "tag", image.id, {"name": new_reference})
        return image

    async def image_remove(self, ref: str, *, force: bool = False) -> Removal:
        def remove() -> Removal:
            return self.images.remove(ref, in_use=self._image_in_use, force=force)

        removal = await anyio.to_thread.run_sync(remove)
        for name in removal.untagged:
            self.events.publish("image", "untag", name, {"name": name})
        for image_id in removal.deleted:
            self.events.publish("image", "delete", image_id, {"name": ref})
        return removal
