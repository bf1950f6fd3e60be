"""A write failing for want of space becomes ``NoSpace``: what was written, where to free space."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pouch.errors import NoSpace, during, no_space, writing


def test_a_full_disk_names_the_file_and_the_filesystem_to_free() -> None:
    with pytest.raises(NoSpace) as raised, writing("/s/blobs/sha256/ab", area=Path("/s")):
        raise OSError(errno.ENOSPC, "No space left on device")
    error = raised.value
    assert error.status == 507
    assert error.message == (
        "no space left on device writing /s/blobs/sha256/ab; free space on the filesystem of /s"
    )
    assert isinstance(error.__cause__, OSError)


def test_a_quota_says_so() -> None:
    with pytest.raises(NoSpace) as raised, writing("/s/x", area="/s"):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert raised.value.quota
    assert raised.value.message == (
        "disk quota exceeded writing /s/x; free space or raise the quota on the filesystem of /s"
    )


def test_other_errors_pass_unchanged() -> None:
    with pytest.raises(PermissionError), writing("/s/x"):
        raise PermissionError(errno.EACCES, "Permission denied", "/s/x")
    assert no_space(ValueError("no")) is None
    assert no_space(OSError(errno.EIO, "I/O error")) is None


def test_without_a_path_the_error_s_file_name_is_used() -> None:
    found = no_space(OSError(errno.ENOSPC, "No space left on device", "/r/containers/c1"))
    assert found is not None
    assert found.message == (
        "no space left on device writing /r/containers/c1; free space on the filesystem"
        " of /r/containers/c1"
    )
    bare = no_space(OSError(errno.ENOSPC, "No space left on device"))
    assert bare is not None
    assert bare.message == (
        "no space left on device writing a file; free space on the filesystem of pouchd's"
        " state root or run root"
    )


def test_during_names_the_operation_once() -> None:
    outer, inner = during("pulling busybox:latest"), during("inner")
    with pytest.raises(NoSpace) as raised, outer, inner, writing("/s/blobs/sha256/ab", area="/s"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert raised.value.message.startswith(
        "inner: no space left on device writing /s/blobs/sha256/ab;"
    )
    with pytest.raises(NoSpace) as untranslated, during("loading images"):
        raise OSError(errno.ENOSPC, "No space left on device", "/s/tmp")
    assert untranslated.value.message == (
        "loading images: no space left on device writing /s/tmp; free space on the filesystem"
        " of /s/tmp"
    )
    with pytest.raises(KeyError), during("pulling"):
        raise KeyError("not about space")
