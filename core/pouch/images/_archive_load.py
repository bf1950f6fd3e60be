"""``load``: recording the images of a docker-archive or an OCI image layout tarball.

Owns deciding what an archive holds once ``_archive_read`` has stored its
files: the images of ``index.json`` (OCI layout: podman's ``oci-archive``,
docker 25+, containerd) and of ``manifest.json`` (``docker save`` of every
version, podman's ``docker-archive``), for which a Docker schema 2 manifest is
made when the archive has none; their names, normalised; and recording them
through ``ImageStore.add_image`` as one unit: when anything fails, images this
load recorded are removed again, names it moved go back, and every blob it
wrote that nothing uses is deleted. It must not parse tar: that is
``_archive_read``'s job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, TypeVar

import msgspec

from pouch.errors import InvalidArgument, NoSuchObject
from pouch.images import _documents as docs
from pouch.images._archive import (
    CONTAINERD_NAME,
    INDEX_JSON,
    MANIFEST_JSON,
    OCI_LAYOUT,
    REF_NAME,
    DockerEntry,
    OCILayout,
    Progress,
    compression,
    diff_id_of,
)
from pouch.images._archive_read import ArchiveContents, read_archive
from pouch.images._manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    OCI_LAYER_ZSTD,
    Descriptor,
    ImageDocument,
    Index,
    Manifest,
)
from pouch.images._records import Image, ImageTable
from pouch.images._reference import parse_reference

if TYPE_CHECKING:
    from pouch.images._store import ImageStore

__all__ = ["load_archive"]

_T = TypeVar("_T")
# Image configs with a long history run to hundreds of kilobytes; nothing real is near this.
_DOCUMENT_LIMIT = 32 << 20
_MEDIA = {"tar": DOCKER_LAYER_TAR, "gzip": DOCKER_LAYER, "zstd": OCI_LAYER_ZSTD}


class _Plan:
    """One image to record: its manifest (a descriptor or a stored digest) and names."""

    def __init__(self, manifest: Descriptor | str, config: str) -> None:
        self.manifest = manifest
        self.config = config
        self.names: list[str] = []


def load_archive(
    store: ImageStore, source: BinaryIO, progress: Progress | None = None
) -> list[Image]:
    """Record every image of the tar ``source``; the images, in the archive's order.

    ``progress`` gets one line per loaded name (``Loaded image: <name>``), or
    ``Loaded image ID: <id>`` for an image without one, once all are recorded.
    """
    before = set(store.content.list())
    found = ArchiveContents()
    rolled_back = False
    try:
        with store.lease():
            read_archive(source, store.content, found)
            plans = _plan(store, found)
            try:
                images = _record(store, plans)
            except BaseException:
                rolled_back = True
                raise
    finally:
        store.drop_unreferenced(found.seen - before)
        if rolled_back:
            store.gc()  # the snapshots unpacked for images that were removed again
    if progress is not None:
        for plan, image in zip(plans, images, strict=True):
            for name in plan.names:
                progress(f"Loaded image: {name}")
            if not plan.names:
                progress(f"Loaded image ID: {image.id}")
    return images


def _decode(raw: bytes, kind: type[_T], what: str) -> _T:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise InvalidArgument(f"invalid image archive: {what}: {exc}") from None


def _name(text: str, what: str) -> str:
    """A tagged name in full form; a reference with only a digest gives none."""
    try:
        ref = parse_reference(text)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid image archive: {what}: {exc.message}") from None
    return ref.tagged


def _annotated_name(annotations: dict[str, str] | None) -> str:
    annotations = annotations or {}
    if name := annotations.get(CONTAINERD_NAME, ""):
        return _name(name, f"{CONTAINERD_NAME} {name!r}")
    ref_name = annotations.get(REF_NAME, "")
    # docker 25 and skopeo put only the tag ("latest") here, podman the whole name.
    if "/" in ref_name or ":" in ref_name:
        try:
            return parse_reference(ref_name).tagged
        except InvalidArgument:
            return ""  # a free-form ref name that is no image reference names nothing
    return ""


def _plan(store: ImageStore, found: ArchiveContents) -> list[_Plan]:
    if INDEX_JSON not in found.metadata and MANIFEST_JSON not in found.metadata:
        raise InvalidArgument(
            "invalid image archive: it has neither manifest.json (docker-archive) "
            "nor index.json (OCI image layout)"
        )
    if OCI_LAYOUT in found.metadata:
        layout = _decode(found.metadata[OCI_LAYOUT], OCILayout, OCI_LAYOUT)
        if not layout.imageLayoutVersion.startswith("1."):
            raise InvalidArgument(
                f"invalid image archive: image layout version {layout.imageLayoutVersion}"
            )
    entries = []
    if MANIFEST_JSON in found.metadata:
        entries = _decode(found.metadata[MANIFEST_JSON], list[DockerEntry], MANIFEST_JSON)
    plans: dict[str, _Plan] = {}
    if INDEX_JSON in found.metadata:
        index = _decode(found.metadata[INDEX_JSON], Index, INDEX_JSON)
        for descriptor in index.manifests:
            config = _config_of(store, descriptor)
            plan = plans.setdefault(config, _Plan(descriptor, config))
            if name := _annotated_name(descriptor.annotations):
                plan.names.append(name)
    for entry in entries:
        config = found.digest(entry.Config, "config")
        if config not in plans:  # no OCI manifest for it: a docker-archive before docker 25
            plans[config] = _Plan(_synthesise(store, found, entry, config), config)
        plans[config].names.extend(_name(tag, f"RepoTags {tag!r}") for tag in entry.RepoTags or [])
    for plan in plans.values():
        plan.names = [name for name in dict.fromkeys(plan.names) if name]
        existing = store.table.get(plan.config)
        if existing is not None:  # keep the image as it is, with its own manifest
            plan.manifest = existing.manifest
    return list(plans.values())


def _require(store: ImageStore, digest: str, what: str) -> None:
    if not store.content.exists(digest):
        raise InvalidArgument(f"invalid image archive: {what} {digest} is not in the archive")


def _document(store: ImageStore, digest: str, what: str) -> bytes:
    """A manifest's or config's bytes, refused when too large to be one (read into memory)."""
    _require(store, digest, what)
    if store.content.size(digest) > _DOCUMENT_LIMIT:
        raise InvalidArgument(f"invalid image archive: {what} {digest} is too large")
    return store.content.read(digest)


def _config_of(store: ImageStore, descriptor: Descriptor) -> str:
    """The config digest (image id) of an ``index.json`` entry; checks its blobs are there."""
    raw = _document(store, descriptor.digest, "manifest")
    chosen = docs.choose_manifest(raw, descriptor, None)
    raw = _document(store, chosen.digest, "manifest")
    manifest = docs.decode_manifest(raw, chosen.digest)
    for blob in (manifest.config, *manifest.layers):
        _require(store, blob.digest, f"blob of manifest {chosen.digest}:")
    return manifest.config.digest


def _synthesise(
    store: ImageStore, found: ArchiveContents, entry: DockerEntry, config: str
) -> Descriptor:
    """A Docker schema 2 manifest for a ``manifest.json`` entry, written to the store.

    Its layers are the archive's files as they are (``layer.tar`` is plain tar;
    compressed files are accepted as ``docker load`` does), each checked
    against the config's diffID.
    """
    content = store.content
    raw = _document(store, config, "image config")
    document = _decode(raw, ImageDocument, f"image config {entry.Config}")
    diff_ids = document.rootfs.diff_ids
    if len(diff_ids) != len(entry.Layers):
        raise InvalidArgument(
            f"invalid image archive: {len(entry.Layers)} layers for the "
            f"{len(diff_ids)} diff_ids of image config {entry.Config}"
        )
    layers = []
    for path, diff_id in zip(entry.Layers, diff_ids, strict=True):
        digest = found.digest(path, "layer")
        kind = compression(content, digest)
        actual = digest if kind == "tar" else diff_id_of(content, digest)
        if actual != diff_id:
            raise InvalidArgument(
                f"invalid image archive: layer {path!r} has diffID {actual}, "
                f"but its image config says {diff_id}"
            )
        layers.append(Descriptor(mediaType=_MEDIA[kind], digest=digest, size=content.size(digest)))
    manifest = Manifest(
        schemaVersion=2,
        mediaType=DOCKER_MANIFEST,
        config=Descriptor(mediaType=DOCKER_CONFIG, digest=config, size=content.size(config)),
        layers=layers,
    )
    raw = msgspec.json.encode(manifest)
    digest = content.write(raw)
    found.seen.add(digest)
    return Descriptor(mediaType=DOCKER_MANIFEST, digest=digest, size=len(raw))


def _record(store: ImageStore, plans: list[_Plan]) -> list[Image]:
    """``add_image`` every plan; on failure undo what was recorded and re-raise."""
    table = store.table
    previous = {name: table.by_name(name) for plan in plans for name in plan.names}
    existed = {plan.config for plan in plans if table.get(plan.config) is not None}
    recorded: list[str] = []
    try:
        for plan in plans:
            image = store.add_image(plan.manifest, names=plan.names, record_digest=False)
            recorded.append(image.id)
    except BaseException:
        _undo(table, recorded, existed, previous)
        raise
    # A later image of the archive may have taken a name from an earlier one.
    images = [table.get(image_id) for image_id in recorded]
    if any(image is None for image in images):
        raise NoSuchObject("an image was removed while it was being loaded")
    return [image for image in images if image is not None]


def _undo(
    table: ImageTable, recorded: list[str], existed: set[str], previous: dict[str, str | None]
) -> None:
    for image_id in recorded:
        if image_id not in existed:
            table.delete(image_id)
    for name, owner in previous.items():
        record = table.get(owner) if owner else None
        if record is not None:
            table.put(record, [name])
        else:
            table.untag(name)
