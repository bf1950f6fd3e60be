"""New images on top of others: one layer (or none) and a config, as commits and builds make them.

``derive`` writes an image whose layers are its parent's (none for
``scratch``) plus, when given, one layer from a tar file (stored as a
committed snapshot over the parent's), with the given config and one more
history entry (``empty_layer`` without a layer, as docker marks ENV or CMD
steps). The layer is stored gzip-compressed, an OCI layer any registry and
engine takes. It is the store work of ``docker commit`` and of every build step;
it runs in a worker thread.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from pouch.errors import writing
from pouch.images import (
    OCI_LAYER_GZIP,
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


def _write_gzipped(store: ImageStore, layer_file: Path) -> str:
    """The layer compressed as registries and other engines expect it; its digest.

    Level 1: a build step's layer is written while the user waits, and the
    size gained by higher levels is small for the time they cost.
    """
    packing = writing(f"a compressed layer in {store.root}", area=store.root)
    with packing, tempfile.TemporaryFile(dir=store.root) as packed:
        with (
            layer_file.open("rb") as source,
            gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=1, mtime=0) as out,
        ):
            shutil.copyfileobj(source, out, 1 << 20)
        packed.seek(0)
        return store.content.write(packed)


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
            digest = _write_gzipped(store, layer_file)  # kept: written inside the lease

            def fill(fs: Path) -> LayerInfo:
                with content.open(digest) as source:
                    return apply_layer(source, fs, whiteouts=True)

            parent_chain = parent.chain_id if parent is not None else ""
            snapshot = store.snapshots.commit(parent_chain or None, fill)
            diff_ids.append(snapshot.diff_id)
            layers = [
                *layers,
                Descriptor(mediaType=OCI_LAYER_GZIP, digest=digest, size=content.size(digest)),
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
