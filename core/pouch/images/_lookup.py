"""Finding images by reference and docker's ``rmi`` semantics.

Owns the resolution order (a full or prefixed ``sha256:`` id, a name, a
``name@digest``, then a bare hex id prefix of at least four characters) and
the decision between untagging a name and deleting an image. It must not touch
blobs or snapshots: collecting them is ``_gc``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec

from pouch.errors import Conflict, InvalidArgument, NoSuchImage
from pouch.images._records import Image, ImageTable
from pouch.images._reference import Reference, parse_reference

__all__ = ["Removal", "lookup", "remove_image"]

_HEX = re.compile(r"^[a-f0-9]+$")
_MIN_PREFIX = 4


class Removal(msgspec.Struct, kw_only=True):
    """What ``remove`` did, in the order of docker's ``Untagged:``/``Deleted:`` lines."""

    untagged: list[str] = []
    deleted: list[str] = []


def _repository(name: str) -> str:
    """``domain/path`` of a stored name (``…:tag`` or ``…@digest``)."""
    if "@" in name:
        return name.partition("@")[0]
    return name.rpartition(":")[0]


def _by_prefix(table: ImageTable, hex_prefix: str, ref: str) -> Image | None:
    if len(hex_prefix) < _MIN_PREFIX or len(hex_prefix) > 64 or not _HEX.match(hex_prefix):
        return None
    ids = table.by_prefix(hex_prefix)
    if len(ids) > 1:
        raise InvalidArgument(f"image id prefix {ref!r} is ambiguous: {len(ids)} images match")
    return table.get(ids[0]) if ids else None


def _by_reference(table: ImageTable, reference: Reference) -> Image | None:
    if not reference.digest:
        image_id = table.by_name(reference.tagged)
        return table.get(image_id) if image_id else None
    for image in table.all():
        if reference.digested in image.digests:
            return image
        if image.manifest == reference.digest and any(
            _repository(name) == reference.repository for name in image.names
        ):
            return image
    return None


def lookup(table: ImageTable, ref: str) -> tuple[Image, Reference | None]:
    """The image ``ref`` names, and the reference it matched by (None for an id)."""
    if ref.startswith("sha256:"):
        image = _by_prefix(table, ref.removeprefix("sha256:"), ref)
        if image is None:
            raise NoSuchImage(ref)
        return image, None
    try:
        reference: Reference | None = parse_reference(ref)
    except InvalidArgument:
        if not _HEX.match(ref):
            raise
        reference = None  # a 64-hex id is not a valid name
    if reference is not None:
        image = _by_reference(table, reference)
        if image is not None:
            return image, reference
    image = _by_prefix(table, ref, ref)
    if image is None:
        raise NoSuchImage(ref)
    return image, None


def _check_unused(image: Image, in_use: Callable[[str], bool], force: bool, ref: str) -> None:
    if not force and in_use(image.id):
        raise Conflict(
            f"unable to remove {ref!r} (must force): a container uses image {image.short_id}"
        )


def remove_image(
    table: ImageTable, ref: str, *, in_use: Callable[[str], bool], force: bool
) -> Removal:
    """Untag ``ref``, deleting the image when no tag is left (docker's ``rmi``).

    By id: every name goes and the image is deleted; names in more than one
    repository need ``force``. Deleting an image ``in_use`` needs ``force``.
    """
    image, reference = lookup(table, ref)
    if reference is None:
        repositories = {_repository(name) for name in [*image.names, *image.digests]}
        if len(repositories) > 1 and not force:
            raise Conflict(
                f"unable to delete {image.short_id} (must force): the image is referenced "
                f"in {len(repositories)} repositories"
            )
        _check_unused(image, in_use, force, ref)
        table.delete(image.id)
        return Removal(untagged=[*image.names, *image.digests], deleted=[image.id])
    if reference.digest:
        gone = [reference.digested] if reference.digested in image.digests else []
        names = image.names
        digests = [d for d in image.digests if d not in gone]
    else:
        gone = [reference.tagged]
        names = [n for n in image.names if n != reference.tagged]
        digests = image.digests
    if names:
        if reference.digest:
            table.put(msgspec.structs.replace(image, digests=digests))
        else:
            table.untag(reference.tagged)
        return Removal(untagged=gone)
    # The last tag goes: the image goes, with its digest references (as docker does).
    _check_unused(image, in_use, force, ref)
    table.delete(image.id)
    return Removal(untagged=[*gone, *digests], deleted=[image.id])
