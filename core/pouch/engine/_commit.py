"""``docker commit`` and ``docker history``: images made of containers, and their past.

``Commits`` writes a container's overlay upper dir as a new image layer
(``_changes.write_layer``: whiteouts as ``.wh.`` entries) over the image the
container runs, stores it as a committed snapshot and records the image with
a config of the parent's, updated from the container's settings and the
caller's ``changes``, and one more history entry. The container is paused
meanwhile when asked and its runtime can. Store work runs in worker threads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec

from pouch.engine._archive import no_such_container
from pouch.engine._changes import mount_points, write_layer
from pouch.engine._containers import Containers
from pouch.engine._derive import derive
from pouch.engine._records import Records
from pouch.errors import Conflict, NoSuchContainer, NotSupported, during, writing
from pouch.images import (
    History,
    Image,
    ImageDocument,
    ImageStore,
    chain_ids,
    parse_reference,
)
from pouch.models import Container, State
from pouch.oci.image import ImageConfig, ImageHealthcheck

__all__ = ["Commits", "HistoryEntry"]

_FRACTION = re.compile(r"(\.\d{6})\d+")


class HistoryEntry(msgspec.Struct, kw_only=True):
    """One line of ``docker history``: newest first, ``<missing>`` below the top."""

    id: str
    created: int
    created_by: str
    tags: list[str]
    size: int
    comment: str


def _seconds(text: str) -> int:
    try:
        return int(datetime.fromisoformat(_FRACTION.sub(r"\1", text)).timestamp())
    except ValueError:
        return 0


def merged_config(base: ImageConfig, container: Container, changes: ImageConfig) -> ImageConfig:
    """The parent's config with the container's settings, then the ``changes``, on top."""
    config = msgspec.structs.replace(base)
    own = container.config
    if own.cmd is not None:
        config.cmd = own.cmd
    if own.entrypoint is not None:
        config.entrypoint = own.entrypoint
    env: dict[str, str] = {}
    for layer in (config.env or [], own.env, changes.env or []):
        for item in layer:
            key, _, value = item.partition("=")
            env[key] = value
    config.env = [f"{k}={v}" for k, v in env.items()] or None
    config.working_dir = changes.working_dir or own.working_dir or config.working_dir
    config.user = changes.user or own.user or config.user
    config.labels = {**(config.labels or {}), **own.labels, **(changes.labels or {})} or None
    exposed: dict[str, dict[str, Any]] = {key: {} for key in own.exposed_ports}
    config.exposed_ports = {**(config.exposed_ports or {}), **exposed} or None
    check = own.healthcheck
    if check is not None and check.test:
        config.healthcheck = ImageHealthcheck(**check.docker_fields())
    if changes.cmd is not None:
        config.cmd = changes.cmd
    if changes.entrypoint is not None:
        config.entrypoint = changes.entrypoint
    if changes.exposed_ports:
        config.exposed_ports = {**(config.exposed_ports or {}), **changes.exposed_ports}
    if changes.volumes:
        config.volumes = {**(config.volumes or {}), **changes.volumes}
    if changes.stop_signal:
        config.stop_signal = changes.stop_signal
    return config


class Commits:
    def __init__(self, records: Records, containers: Containers, store: ImageStore) -> None:
        self.records = records
        self.containers = containers
        self.store = store

    async def commit(
        self,
        ref: str,
        *,
        reference: str = "",
        comment: str = "",
        author: str = "",
        pause: bool = True,
        changes: ImageConfig | None = None,
        config: ImageConfig | None = None,
        created_by: str = "",
    ) -> Image:
        """A new image of the container ``ref``'s file system, named ``reference`` if given.

        Its config is the image's updated from the container and ``changes``
        (``docker commit``), or exactly ``config`` when given (a build's step,
        whose history entry says ``created_by``)."""
        try:
            container = self.records.lookup(ref)
        except NoSuchContainer:
            raise no_such_container(ref) from None
        if reference:
            reference = str(parse_reference(reference))  # a bad name fails before any work
        snapshot = self.store.snapshots.get(container.id)
        if snapshot is not None and snapshot.shifted:
            # Its upper dir holds metadata-only copies owned by the remapped IDs.
            raise NotSupported(
                f"cannot commit {container.name}: it runs in a remapped user namespace"
            )
        paused = False
        if pause and container.state.status == State.RUNNING:
            try:
                await self.containers.pause(container.id)
                paused = True
            except (NotSupported, Conflict):
                pass  # a runtime without pause, or a container that stopped meanwhile
        try:
            work = functools.partial(
                self._commit,
                container,
                reference,
                comment,
                author,
                changes or ImageConfig(),
                config,
                created_by,
            )
            with during(f"committing container {container.name}"):
                image = await anyio.to_thread.run_sync(work)
        finally:
            if paused:
                with anyio.CancelScope(shield=True), contextlib.suppress(Conflict):
                    await self.containers.resume(container.id)
        self.records.publish(container, "commit", comment=comment, imageID=image.id)
        return image

    @contextlib.contextmanager
    def _layer_file(self, container: Container) -> Iterator[Path]:
        upper = self.store.writable(container.id) / "fs"
        fd, name = tempfile.mkstemp(dir=self.store.root, prefix="commit-", suffix=".tar")
        try:
            with writing(name, area=self.store.root), os.fdopen(fd, "wb") as out:
                write_layer(upper, out, mount_points(container))
            yield Path(name)
        finally:
            os.unlink(name)

    def _commit(
        self,
        container: Container,
        reference: str,
        comment: str,
        author: str,
        changes: ImageConfig,
        exact: ImageConfig | None,
        created_by: str,
    ) -> Image:
        parent = self.store.resolve(container.image_id)
        document = msgspec.json.decode(self.store.content.read(parent.id), type=ImageDocument)
        config = exact or merged_config(document.config or ImageConfig(), container, changes)
        cmd = [*(container.config.entrypoint or []), *(container.config.cmd or [])]
        entry = History(created_by=created_by or " ".join(cmd), author=author, comment=comment)
        with self._layer_file(container) as layer_file:
            return derive(self.store, parent, layer_file, config, entry, reference=reference)

    async def derive(
        self,
        parent: str | None,
        *,
        config: ImageConfig,
        created_by: str,
        layer: Path | None = None,
    ) -> Image:
        """A new image over ``parent`` (None: ``scratch``) with exactly ``config``,
        the tar ``layer`` as one more layer if given, and a history entry saying
        ``created_by`` (a build's step)."""

        def work() -> Image:
            base = self.store.resolve(parent) if parent is not None else None
            entry = History(created_by=created_by)
            return derive(self.store, base, layer, config, entry)

        return await anyio.to_thread.run_sync(work)

    # -- history ------------------------------------------------------------------

    async def history(self, ref: str) -> list[HistoryEntry]:
        """The image's history, newest first, as ``docker history`` lists it."""
        return await anyio.to_thread.run_sync(self._history, ref)

    def _history(self, ref: str) -> list[HistoryEntry]:
        image = self.store.resolve(ref)
        document = msgspec.json.decode(self.store.content.read(image.id), type=ImageDocument)
        sizes = []
        for chain in chain_ids(document.rootfs.diff_ids):
            snapshot = self.store.snapshots.get(chain)
            sizes.append(snapshot.size if snapshot is not None else 0)
        history = document.history or [
            History(created=document.created) for _ in document.rootfs.diff_ids
        ]
        entries: list[HistoryEntry] = []
        layer = 0
        for item in history:
            size = 0
            if not item.empty_layer:
                size = sizes[layer] if layer < len(sizes) else 0
                layer += 1
            entries.append(
                HistoryEntry(
                    id="<missing>",
                    created=_seconds(item.created) if item.created else 0,
                    created_by=item.created_by,
                    tags=[],
                    size=size,
                    comment=item.comment,
                )
            )
        entries.reverse()
        if entries:
            entries[0].id = image.id
            entries[0].tags = list(image.names)
        return entries
