"""Reading an image archive: one streaming pass over the tar into the content store.

Owns the pass itself: every regular file becomes a blob (``blobs/sha256/<hex>``
entries verified against their names while they are read, any other file —
a legacy ``layer.tar``, a ``<config>.json`` — stored under the digest of its
bytes), the small top-level documents are kept in memory, and links are
recorded as archive paths to resolve afterwards. Nothing is extracted to the
file system, so a crafted path cannot write anywhere; it is refused all the
same. The source may be a pipe: the tar is read once, front to back, and
never held in memory. It must not interpret manifests: ``_archive_load`` does.
"""

from __future__ import annotations

import re
import tarfile
from typing import BinaryIO

from pouch.errors import InvalidArgument
from pouch.images._archive import METADATA, archive_error, clean_path, link_target
from pouch.images._content import ContentStore

__all__ = ["ArchiveContents", "read_archive"]

_BLOB = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")
# manifest.json / index.json of even a thousand images is far below this.
_METADATA_LIMIT = 16 << 20
# Links may point at links (podman: <id>/layer.tar -> ../<diffid>.tar); bounded against loops.
_MAX_HOPS = 16


class ArchiveContents:
    """What one pass over an archive found.

    ``files`` maps archive paths to the digests of the blobs they were stored
    as, ``links`` maps link paths to their targets, ``metadata`` holds the
    top-level documents (``manifest.json``, ``index.json``, ``oci-layout``,
    ``repositories``), and ``seen`` every digest this load wrote or made.
    """

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.metadata: dict[str, bytes] = {}
        self.seen: set[str] = set()

    def digest(self, path: str, what: str) -> str:
        """The blob digest of the file at archive path ``path``, following links."""
        current = clean_path(path)
        for _ in range(_MAX_HOPS):
            if current in self.files:
                return self.files[current]
            if current not in self.links:
                break
            current = self.links[current]
        raise InvalidArgument(f"invalid image archive: {what} {path!r} is not in the archive")


def read_archive(source: BinaryIO, content: ContentStore, found: ArchiveContents) -> None:
    """Read the tar ``source`` (plain, gzip, bzip2 or xz) into ``content`` and ``found``.

    ``found`` is filled as the pass goes, so that after an error the caller
    still knows which blobs it wrote. Raises ``InvalidArgument`` naming the
    offending entry for a path outside the archive, a digest mismatch, a
    truncated or non-tar stream.
    """
    try:
        with tarfile.open(fileobj=source, mode="r|*") as tar:
            for member in tar:
                _take(tar, member, content, found)
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArgument(f"invalid image archive (not a readable tar): {exc}") from None


def _take(
    tar: tarfile.TarFile, member: tarfile.TarInfo, content: ContentStore, found: ArchiveContents
) -> None:
    path = clean_path(member.name)
    if member.isdir():
        return
    if member.issym() or member.islnk():
        found.links[path] = link_target(path, member.linkname, hard=member.islnk())
        return
    if not member.isreg():
        raise archive_error(member.name, "not a regular file, directory or link")
    stream = tar.extractfile(member)
    assert stream is not None  # a regular file always has content
    if path in METADATA:
        if member.size > _METADATA_LIMIT:
            raise archive_error(member.name, f"{member.size} bytes is too large")
        found.metadata[path] = stream.read()
        return
    match = _BLOB.match(path)
    expected = f"sha256:{match.group(1)}" if match else None
    try:
        digest = content.write(stream, expected, member.size)
    except InvalidArgument as exc:
        raise archive_error(member.name, exc.message) from None
    found.files[path] = digest
    found.seen.add(digest)
