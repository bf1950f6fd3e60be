"""New images on top of others: one layer (or none) and a config, as commits and builds make them.

``derive`` writes an image whose layers are its parent's (none for
``scratch``) plus, when given, one layer from a tar file (stored as a
committed snapshot over the parent's), with the given config and one more
history entry (``empty_layer`` without a layer, as docker marks ENV or CMD
steps). It is the store work of ``docker commit`` and of every build step;
it runs in a worker thread.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from pouch.images import (
    DOCKER_LAYER_TAR,
    Descriptor,
    History,
    Image,
    ImageDocument,
    ImageStore,
    LayerInfo,
    Manifest,
    RootFS,
    apply_layer,
    host_platform,
    write_image,
)
from pouch.oci.image import ImageConfig

__all__ = ["derive", "now"]


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def derive(
    store: ImageStore,
    parent: Image | None,
    layer_file: Path | None,
    config: ImageConfig,
    entry: History,
    *,
    reference: str = "",
) -> Image:
    """The image ``parent`` (None: ``scratch``) + ``layer_file`` with ``config``."""
    content = store.content
    if parent is not None:
        layers = msgspec.json.decode(content.read(parent.manifest), type=Manifest).layers
        document = msgspec.json.decode(content.read(parent.id), type=ImageDocument)
    else:
        layers = []
        platform = host_platform()
        document = ImageDocument(
            architecture=platform.architecture,
            os="linux",
            variant=platform.variant,
            rootfs=RootFS(type="layers", diff_ids=[]),
        )
    diff_ids = list(document.rootfs.diff_ids)
    entry = msgspec.structs.replace(entry, created=entry.created or now())
    with store.lease():
        if layer_file is None:
            entry = msgspec.structs.replace(entry, empty_layer=True)
        else:
            with layer_file.open("rb") as stream:
                digest = content.write(stream)  # kept: written inside the lease

            def fill(fs: Path) -> LayerInfo:
                with content.open(digest) as source:
                    return apply_layer(source, fs, whiteouts=True)

            parent_chain = parent.chain_id if parent is not None else ""
            snapshot = store.snapshots.commit(parent_chain or None, fill)
            diff_ids.append(snapshot.diff_id)
            layers = [
                *layers,
                Descriptor(mediaType=DOCKER_LAYER_TAR, digest=digest, size=content.size(digest)),
            ]
        new = msgspec.structs.replace(
            document,
            created=entry.created,
            config=config,
            rootfs=RootFS(type="layers", diff_ids=diff_ids),
            history=[*(document.history or []), entry],
        )
        top = write_image(content, new, layers)
        return store.add_image(top, names=[reference] if reference else [], record_digest=False)
