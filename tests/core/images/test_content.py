"""The content store keeps only blobs that match their digest."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from pouch.errors import InvalidArgument, NoSuchObject
from pouch.images import ContentStore


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_blobs_are_stored_by_digest_from_bytes_chunks_or_streams(tmp_path: Path) -> None:
    content = ContentStore(tmp_path)
    data = b"hello, layers\n" * 1000
    digest = content.write(data)
    assert digest == digest_of(data)
    assert content.path(digest) == tmp_path / "blobs" / "sha256" / digest.removeprefix("sha256:")
    assert content.write([data[:10], data[10:]], digest, len(data)) == digest
    other = b"another"
    assert content.write(io.BytesIO(other), expected_digest=digest_of(other)) == digest_of(other)
    assert content.list() == sorted([digest, digest_of(other)])
    assert content.read(digest) == data
    with content.open(digest) as blob:
        assert blob.read(5) == b"hello"
    assert content.exists(digest) and content.size(digest) == len(data)
    assert content.delete(digest) is True
    assert content.delete(digest) is False
    assert not content.exists(digest)
    with pytest.raises(NoSuchObject):
        content.open(digest)


def test_a_digest_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    content = ContentStore(tmp_path)
    wrong = digest_of(b"something else")
    with pytest.raises(InvalidArgument) as caught:
        content.write(b"the real content", expected_digest=wrong)
    assert wrong in str(caught.value)
    assert digest_of(b"the real content") in str(caught.value)
    assert content.list() == []
    assert os.listdir(content.root) == []


def test_a_size_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    content = ContentStore(tmp_path)
    data = b"0123456789"
    for size in (5, 11):
        with pytest.raises(InvalidArgument, match="size mismatch"):
            content.write(iter([data[:6], data[6:]]), digest_of(data), size)
    assert os.listdir(content.root) == []


def test_a_failing_source_leaves_no_temporary_file(tmp_path: Path) -> None:
    content = ContentStore(tmp_path)

    def chunks() -> object:
        yield b"partial"
        raise ConnectionError("registry went away")

    with pytest.raises(ConnectionError):
        content.write(chunks())  # type: ignore[arg-type]
    assert os.listdir(content.root) == []


@pytest.mark.parametrize("digest", ["sha256:../../etc/passwd", "md5:abc", "sha256:" + "A" * 64])
def test_digests_are_checked_before_they_become_paths(tmp_path: Path, digest: str) -> None:
    content = ContentStore(tmp_path)
    with pytest.raises(InvalidArgument, match="not a sha256 digest"):
        content.path(digest)
    with pytest.raises(InvalidArgument):
        content.write(b"x", expected_digest=digest)


def test_concurrent_writers_of_one_blob_all_succeed(tmp_path: Path) -> None:
    content = ContentStore(tmp_path)
    data = os.urandom(1 << 20)
    digest = digest_of(data)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            # Chunks defeat the "already there" shortcut: every writer really writes.
            assert content.write([data[: 1 << 19], data[1 << 19 :]]) == digest
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert content.list() == [digest]
    assert os.listdir(content.root) == [digest.removeprefix("sha256:")]
    assert content.read(digest) == data
