"""The content-addressed blob store: ``<root>/blobs/sha256/<hex>``.

Owns writing blobs (verified by sha256 and size before they become visible),
reading, listing and deleting them, and the ``BlobSource`` protocol through
which blobs arrive from elsewhere (a registry, a mirror, a peer, an archive).
It must not interpret blobs: manifests and layers are ``_store``'s business.
Every method is blocking file work.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from pouch.errors import InvalidArgument, NoSuchObject, writing
from pouch.images._manifest import Descriptor
from pouch.images._streams import write_all

__all__ = ["BlobSource", "ContentStore", "check_digest"]

_SHA256 = re.compile(r"^sha256:([a-f0-9]{64})$")
_TEMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20


def check_digest(digest: str, what: str = "digest") -> str:
    """Return the hex part of a ``sha256:<64 hex>`` digest; InvalidArgument otherwise.

    Every digest is checked before it becomes part of a path, so a crafted
    manifest cannot name a file outside the store.
    """
    match = _SHA256.match(digest)
    if not match:
        raise InvalidArgument(f"{what} {digest!r} is not a sha256 digest (sha256:<64 hex>)")
    return match.group(1)


@runtime_checkable
class BlobSource(Protocol):
    """Where blobs come from; the store verifies what it is given.

    A registry client, a mirror, a P2P peer or an image archive implements this
    one method. It may be called from a worker thread and may block.
    """

    def fetch(self, descriptor: Descriptor) -> Iterable[bytes]:
        """Yield the bytes of the blob ``descriptor`` names (any chunk sizes).

        Raise ``pouch.errors.NoSuchObject`` when the source does not have it.
        Digest and size are verified by ``ContentStore.write``.
        """
        ...


def _chunks(data: bytes | Iterable[bytes] | BinaryIO) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
    elif hasattr(data, "read"):
        while chunk := data.read(_CHUNK):
            yield chunk
    else:
        yield from data


class ContentStore:
    """Blobs by digest. Safe for concurrent writers of the same blob.

    A blob is written to a temporary file in its final directory, verified,
    fsynced and renamed into place; rename is atomic, and two writers of one
    digest write the same bytes, so whichever rename wins is correct.
    """

    def __init__(self, root: Path) -> None:
        self.state_root = root
        self.root = root / "blobs" / "sha256"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / check_digest(digest)

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NoSuchObject(f"no such blob: {digest}") from None

    def open(self, digest: str) -> BinaryIO:
        """Open the blob for reading (blocking); the caller closes it."""
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NoSuchObject(f"no such blob: {digest}") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as blob:
            return blob.read()

    def write(
        self,
        data: bytes | Iterable[bytes] | BinaryIO,
        expected_digest: str | None = None,
        expected_size: int | None = None,
    ) -> str:
        """Store ``data`` and return its digest (blocking).

        With ``expected_digest``/``expected_size`` the content is verified and a
        mismatch raises ``InvalidArgument`` naming both digests; a full
        filesystem raises ``NoSpace`` naming the blob. Nothing is left behind
        either way. A blob that is already present is not written again.
        """
        if expected_digest is not None:
            check_digest(expected_digest, "expected digest")
            if self.exists(expected_digest):
                return expected_digest
        temp = self.root / f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
        target = self.path(expected_digest) if expected_digest is not None else self.root
        hasher = hashlib.sha256()
        size = 0
        try:
            with writing(target, area=self.state_root):
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                try:
                    for chunk in _chunks(data):
                        hasher.update(chunk)
                        size += len(chunk)
                        write_all(fd, chunk)
                        if expected_size is not None and size > expected_size:
                            raise InvalidArgument(
                                f"size mismatch for {expected_digest or 'blob'}: more than the "
                                f"expected {expected_size} bytes"
                            )
                    os.fsync(fd)
                finally:
                    os.close(fd)
            digest = f"sha256:{hasher.hexdigest()}"
            if expected_digest is not None and digest != expected_digest:
                raise InvalidArgument(
                    f"digest mismatch: expected {expected_digest}, got {digest} ({size} bytes)"
                )
            if expected_size is not None and size != expected_size:
                raise InvalidArgument(
                    f"size mismatch for {digest}: expected {expected_size} bytes, got {size}"
                )
            final = self.root / digest.removeprefix("sha256:")
            with writing(final, area=self.state_root):
                os.rename(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return digest

    def delete(self, digest: str) -> bool:
        """Remove the blob; False when it was not there."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self) -> list[str]:
        """Every stored digest (temporary files of writes in progress are not listed)."""
        return sorted(
            f"sha256:{entry.name}"
            for entry in os.scandir(self.root)
            if _SHA256.match(f"sha256:{entry.name}") and entry.is_file(follow_symlinks=False)
        )

    def remove_stale_temp(self, older_than: float = 3600.0) -> int:
        """Delete temporary files left by writers that died; return how many."""
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(self.root):
            if entry.name.startswith(_TEMP_PREFIX):
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed
