"""Which subordinate range --userns-remap names, from test copies of /etc/subuid and subgid."""

from __future__ import annotations

from pathlib import Path

import pytest

from pouch import userns
from pouch.errors import InvalidArgument


@pytest.fixture
def subids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text("alice:100000:65536\nbob:165536:65536\n")
    subgid.write_text("alice:100000:65536\nstaff:300000:1000\n")
    monkeypatch.setattr(userns, "SUBUID", subuid)
    monkeypatch.setattr(userns, "SUBGID", subgid)
    return subuid, subgid


def test_names_and_groups(subids: tuple[Path, Path]) -> None:
    assert userns.resolve("") is None
    assert userns.resolve("alice") == userns.IdMap(uid=100000, gid=100000, size=65536)
    assert userns.resolve("alice:staff") == userns.IdMap(uid=100000, gid=300000, size=1000)
    with pytest.raises(InvalidArgument, match="subgid") as missing:
        userns.resolve("bob")
    assert missing.value.field == "userns_remap"


def test_default_adds_a_free_range_once(subids: tuple[Path, Path]) -> None:
    subuid, subgid = subids
    first = userns.resolve("default")
    assert first == userns.IdMap(uid=231072, gid=301000, size=65536)
    assert userns.resolve("default") == first
    assert subuid.read_text().count("pouchremap:") == subgid.read_text().count("pouchremap:") == 1


def test_root_is_given_the_ranges_it_maps(subids: tuple[Path, Path]) -> None:
    subuid, subgid = subids
    subuid.write_text("pouchremap:100000:65536\nroot:300000:10\n")
    subgid.write_text("pouchremap:100000:65536\nroot:100000:65536\n")
    userns.allow_root(100000, 100000, 65536)
    userns.allow_root(100000, 100000, 65536)  # once is enough
    assert subuid.read_text().splitlines()[-1] == "root:100000:65536"
    assert subuid.read_text().count("root:100000:65536") == 1
    assert subgid.read_text().count("root:") == 1  # already covered
