"""The build context: .dockerignore as docker reads it, and sources that must stay inside."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from pouch_build._context import Context, Ownership

from pouch.errors import InvalidArgument


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    for path in ("src/a.py", "src/deep/b.py", "docs/x.md", "README.md", "build/out.o", "keep.md"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)
    (root / ".dockerignore").write_text("# comment\n**/*.md\n!keep.md\nbuild\n")
    return root


def test_dockerignore_patterns_exceptions_and_directories(context: Path) -> None:
    ctx = Context(context, "Dockerfile")
    assert ctx.ignored("README.md") and ctx.ignored("docs/x.md")
    assert not ctx.ignored("keep.md")
    assert ctx.ignored("build") and ctx.ignored("build/out.o")
    assert not ctx.ignored("src/a.py")


def test_copying_a_directory_leaves_the_ignored_out(context: Path, tmp_path: Path) -> None:
    ctx = Context(context, "Dockerfile")
    tar = ctx.tar(ctx.sources(["."]), "/app/", Ownership("1000", "640"))
    with tarfile.open(tar) as archive:
        members = {m.name: m for m in archive}
    assert set(members) == {
        "app/src", "app/src/a.py", "app/src/deep", "app/src/deep/b.py", "app/keep.md",
        "app/docs", "app/.dockerignore",
    }  # fmt: skip
    assert (members["app/src/a.py"].uid, members["app/src/a.py"].mode) == (1000, 0o640)


@pytest.mark.parametrize("source", ["../outside", "src/../../outside", "link"])
def test_a_source_outside_the_context_is_refused(context: Path, source: str) -> None:
    (context.parent / "outside").write_text("secret")
    (context / "link").symlink_to(context.parent / "outside")
    with pytest.raises(InvalidArgument, match="outside the build context"):
        Context(context, "Dockerfile").sources([source])


def test_a_missing_source_is_named(context: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"nope\.txt: no such file"):
        Context(context, "Dockerfile").sources(["nope.txt"])
    assert len(Context(context, "Dockerfile").sources(["src/*.py"])) == 1


def test_chown_takes_numbers_and_chmod_octal() -> None:
    assert Ownership("1000:2000").ids == (1000, 2000)
    assert Ownership("root").ids == (0, 0)
    with pytest.raises(InvalidArgument, match="numeric"):
        Ownership("www-data")
    with pytest.raises(InvalidArgument, match="octal"):
        Ownership(chmod="u+x")
