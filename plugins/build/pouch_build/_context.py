"""The build context: what ``.dockerignore`` leaves in it, and files for COPY as a tar.

``.dockerignore`` follows Docker's rules: one pattern per line (``#``
comments), ``*``, ``?`` and ``[…]`` within a path element, ``**`` across
any number of them, ``!`` re-including what an earlier line excluded, the
last matching line deciding; an excluded directory takes its contents with
it. COPY sources are paths or globs relative to the context; a source that
leaves the context (``../x``, or a symlink pointing out) is refused.
"""

from __future__ import annotations

import os
import posixpath
import re
import tarfile
import tempfile
from pathlib import Path

from pouch.errors import InvalidArgument

__all__ = ["Context", "Ownership"]


def _element(text: str) -> str:
    out, at = [], 0
    while at < len(text):
        char = text[at]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in text[at + 1 :]:
            end = text.index("]", at + 1)
            out.append("[" + text[at + 1 : end].replace("!", "^", 1) + "]")
            at = end
        else:
            out.append(re.escape(char))
        at += 1
    return "".join(out)


def _pattern(text: str) -> re.Pattern[str]:
    """A ``.dockerignore`` line as a regular expression over context-relative paths."""
    parts = [
        "(?:.*/)?" if element == "**" else _element(element) + "/" for element in text.split("/")
    ]
    body = "".join(parts).removesuffix("/")
    if body.endswith("(?:.*/)?"):
        body = body.removesuffix("(?:.*/)?") + ".*"
    return re.compile(f"^{body}(?:/.*)?$", re.S)


class Ownership:
    """COPY's ``--chown`` (numeric IDs or root; the builder looks names up) and
    ``--chmod`` (octal)."""

    def __init__(self, chown: str = "", chmod: str = "") -> None:
        self.ids: tuple[int, int] | None = None
        if chown:
            user, _, group = chown.partition(":")
            group = group or user
            names = {"root": "0"}
            user, group = names.get(user, user), names.get(group, group)
            if not (user.isdigit() and group.isdigit()):
                raise InvalidArgument(
                    f"--chown={chown}: give numeric IDs (names are not looked up yet)",
                    field="chown",
                )
            self.ids = (int(user), int(group))
        self.mode: int | None = None
        if chmod:
            if not re.fullmatch(r"[0-7]{3,4}", chmod):
                raise InvalidArgument(f"--chmod={chmod}: give an octal mode", field="chmod")
            self.mode = int(chmod, 8)


class Context:
    def __init__(self, root: Path, dockerfile: str) -> None:
        self.root = root
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        ignore = root / ".dockerignore"
        if ignore.is_file():
            for line in ignore.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                keep = line.startswith("!")
                cleaned = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
                self.rules.append((keep, _pattern(cleaned)))
        self.dockerfile = dockerfile

    def ignored(self, relative: str) -> bool:
        verdict = False
        for keep, pattern in self.rules:
            if pattern.match(relative):
                verdict = not keep
        return verdict

    def sources(self, patterns: list[str]) -> list[Path]:
        """The context paths ``patterns`` name, each checked to stay inside it."""
        found: list[Path] = []
        for pattern in patterns:
            cleaned = posixpath.normpath(pattern.lstrip("/")) or "."
            if cleaned == ".." or cleaned.startswith("../"):
                raise InvalidArgument(f"{pattern}: the source is outside the build context")
            matches = sorted(self.root.glob(cleaned)) if any(c in cleaned for c in "*?[") else []
            if not matches:
                path = self.root / cleaned
                if not path.exists() and not path.is_symlink():
                    raise InvalidArgument(
                        f"{pattern}: no such file or directory in the build context"
                    )
                matches = [path]
            for path in matches:
                real = path.resolve()
                if not real.is_relative_to(self.root.resolve()):
                    raise InvalidArgument(
                        f"{pattern}: {path.relative_to(self.root)} points outside the build context"
                    )
                found.append(path)
        return found

    def tar(self, sources: list[Path], dest: str, own: Ownership) -> Path:
        """A tar putting ``sources`` at ``dest`` (a directory when it ends in ``/``,
        when there are several sources, or for a directory's contents)."""
        fd, name = tempfile.mkstemp(prefix="copy-", suffix=".tar", dir=self.root.parent)
        into_dir = dest.endswith("/") or len(sources) > 1
        base = dest.strip("/")
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w") as tar:
            for source in sources:
                if source.is_dir() and not source.is_symlink():
                    self._add_tree(tar, source, base, own)
                else:
                    target = posixpath.join(base, source.name) if into_dir else base
                    self._add(tar, source, target, own)
        return Path(name)

    def _add_tree(self, tar: tarfile.TarFile, top: Path, base: str, own: Ownership) -> None:
        for directory, dirs, files in os.walk(top):
            here = Path(directory)
            dirs[:] = sorted(d for d in dirs if not self.ignored(self._rel(here / d)))
            for name in [*dirs, *sorted(files)]:
                path = here / name
                if name in files and self.ignored(self._rel(path)):
                    continue
                self._add(tar, path, posixpath.join(base, path.relative_to(top).as_posix()), own)

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @staticmethod
    def _add(tar: tarfile.TarFile, path: Path, name: str, own: Ownership) -> None:
        info = tar.gettarinfo(str(path), arcname=name)
        info.uname = info.gname = ""
        info.uid, info.gid = own.ids or (0, 0)
        if own.mode is not None and not info.issym():
            info.mode = own.mode
        if info.isreg():
            with path.open("rb") as data:
                tar.addfile(info, data)
        else:
            tar.addfile(info)
