"""The CRI ``ImageService`` on the engine's image store.

Images are found by id (``sha256:…`` or a unique prefix), by name or by
digest alike, as the store resolves them for the Docker API. What the CRI
asks of a missing image: ``ImageStatus`` answers without one, ``RemoveImage``
succeeds; a pull that fails is the registry's error.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec

from pouch.engine import Engine
from pouch.errors import InvalidArgument, NoSuchObject
from pouch.images import Image

from ._pb import api_pb2 as pb

__all__ = ["ImageService", "image_message"]


def _user(spec: str) -> tuple[int | None, str]:
    """The image's user as the CRI gives it: a numeric uid, else a name."""
    user = spec.split(":", 1)[0]
    if not user:
        return 0, ""
    if user.isdigit():
        return int(user), ""
    return None, user


def image_message(image: Image) -> pb.Image:
    uid, username = _user(image.config.user)
    message = pb.Image(
        id=image.id,
        repo_tags=list(image.names),
        repo_digests=list(image.digests),
        size=image.size,
        username=username,
        spec=pb.ImageSpec(image=image.id),
    )
    if uid is not None:
        message.uid.value = uid
    return message


def _credentials(auth: pb.AuthConfig) -> tuple[str, str] | None:
    """(user, password) from ``username``/``password`` or ``auth`` (base64 "user:password")."""
    if auth.identity_token or auth.registry_token:
        raise InvalidArgument(
            "identity and registry tokens are not supported; give username and password",
            field="auth",
        )
    if auth.username:
        return auth.username, auth.password
    if auth.auth:
        try:
            user, sep, password = base64.b64decode(auth.auth, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise InvalidArgument("auth is not base64 of user:password", field="auth.auth")
        return user, password
    return None


def _wanted(spec: pb.ImageSpec, field: str) -> str:
    ref = spec.image.strip()
    if not ref:
        raise InvalidArgument("names no image", field=field)
    return ref


class ImageService:
    """``runtime.v1.ImageService``: each method takes (request, context)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _find(self, ref: str) -> Image | None:
        try:
            return await self.engine.images.inspect(ref)
        except NoSuchObject:
            return None

    async def ListImages(
        self, request: pb.ListImagesRequest, context: Any
    ) -> pb.ListImagesResponse:
        images = await self.engine.images.list()
        if request.HasField("filter") and request.filter.image.image:
            found = await self._find(request.filter.image.image)
            images = [found] if found is not None else []
        return pb.ListImagesResponse(images=[image_message(i) for i in images])

    async def ImageStatus(
        self, request: pb.ImageStatusRequest, context: Any
    ) -> pb.ImageStatusResponse:
        image = await self._find(_wanted(request.image, "image.image"))
        if image is None:
            return pb.ImageStatusResponse()
        response = pb.ImageStatusResponse(image=image_message(image))
        if request.verbose:
            response.info["info"] = msgspec.json.encode({"config": image.config}).decode()
        return response

    async def PullImage(self, request: pb.PullImageRequest, context: Any) -> pb.PullImageResponse:
        ref = _wanted(request.image, "image.image")
        credentials = _credentials(request.auth) if request.HasField("auth") else None
        image = await self.engine.images.pull(ref, credentials=credentials)
        return pb.PullImageResponse(image_ref=image.id)

    async def RemoveImage(
        self, request: pb.RemoveImageRequest, context: Any
    ) -> pb.RemoveImageResponse:
        image = await self._find(_wanted(request.image, "image.image"))
        if image is not None:
            with contextlib.suppress(NoSuchObject):  # removed meanwhile
                await self.engine.images.remove(image.id, force=True)
        return pb.RemoveImageResponse()

    async def ImageFsInfo(
        self, request: pb.ImageFsInfoRequest, context: Any
    ) -> pb.ImageFsInfoResponse:
        root = self.engine.images.store.root
        used, inodes = await anyio.to_thread.run_sync(_usage, root / "blobs", root / "snapshots")
        usage = pb.FilesystemUsage(timestamp=time.time_ns())
        usage.fs_id.mountpoint = str(root / "snapshots")
        usage.used_bytes.value = used
        usage.inodes_used.value = inodes
        return pb.ImageFsInfoResponse(image_filesystems=[usage])


def _usage(*roots: Path) -> tuple[int, int]:
    """Bytes and inodes below ``roots`` (the blobs and the unpacked layers;
    hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    used = 0
    for directory, dirs, files in (step for root in roots for step in os.walk(root)):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            used += st.st_blocks * 512
    return used, len(seen)
