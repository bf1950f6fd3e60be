"""The files of one container log: ``path.N`` … ``path.1``, then ``path`` itself.

``rotate`` makes a new generation: the oldest kept file goes, each other moves
one number up and the live file becomes ``path.1``; its writer then starts a
new file at ``path``. At no moment are there more than ``max_files`` files: the
live name is missing for a moment instead (until the writer makes it anew),
and every rename goes from the highest number down, so at every instant the
names still sort the files from the oldest to the newest.

The readers' half (``listing``, ``open_chain``, ``LogChain``) copes with a
rotation by another process while it looks: a listing is taken until two in a
row agree, files are opened by name and kept only when they are the files the
listing named (by inode), and a file once open stays readable whatever its
name becomes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["LogChain", "listing", "open_chain", "rotate"]

# Listings taken before giving up on two in a row agreeing: a rotation is a few
# renames, so one more listing after it is nearly always enough.
_TRIES = 20

Listing = list[tuple[Path, int]]


def rotate(path: Path, max_files: int) -> None:
    """Start a new generation: ``path`` becomes ``path.1`` (dropped when ``max_files`` is 1).

    The writer makes the new ``path``: it is not created here, so that a
    writer that makes its file under another name first (conmon's
    ``path.tmp``) never adds a file beyond ``max_files``.
    """
    if max_files <= 1:
        path.unlink(missing_ok=True)
        return
    path.with_name(f"{path.name}.{max_files - 1}").unlink(missing_ok=True)
    for index in range(max_files - 2, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            os.rename(
                path.with_name(f"{path.name}.{index}"), path.with_name(f"{path.name}.{index + 1}")
            )
    with contextlib.suppress(FileNotFoundError):
        os.rename(path, path.with_name(f"{path.name}.1"))


def _look(path: Path) -> Listing:
    prefix = path.name + "."
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    numbered = sorted(
        (int(name[len(prefix) :]), name)
        for name in names
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    )
    found: Listing = []
    for candidate in [*(path.with_name(name) for _, name in reversed(numbered)), path]:
        try:
            found.append((candidate, os.stat(candidate).st_ino))
        except FileNotFoundError:
            continue
    return found


def listing(path: Path) -> Listing:
    """The log's files, oldest first, with their inodes; empty when there are none."""
    previous = _look(path)
    for _ in range(_TRIES):
        current = _look(path)
        if current == previous:
            return current
        previous = current
    return previous


def _open_as_listed(file: Path, inode: int) -> BinaryIO | None:
    try:
        handle = open(file, "rb")  # noqa: SIM115 - the caller owns it
    except FileNotFoundError:
        return None
    if os.fstat(handle.fileno()).st_ino != inode:
        handle.close()
        return None
    return handle


def open_chain(path: Path) -> list[BinaryIO]:
    """Every file of the log open, oldest first, as one listing named them."""
    for _ in range(_TRIES):
        handles: list[BinaryIO] = []
        for file, inode in listing(path):
            handle = _open_as_listed(file, inode)
            if handle is None:
                break
            handles.append(handle)
        else:
            return handles
        for handle in handles:
            handle.close()
    return []


class LogChain:
    """A reader's way through the files of one log, from the oldest on.

    ``current`` is the file being read. The files read to their end stay open
    while the log still lists them, so that their inodes cannot pass to new
    files: when ``current`` itself is gone (dropped by ``max-file``, or moved
    away with a new file put at the path), the next file is the first listed
    one not read yet.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: BinaryIO | None = None
        self._read: dict[int, BinaryIO] = {}

    def open(self) -> list[BinaryIO]:
        """Every file of the log open, oldest first; the newest becomes ``current``
        and the others count as read."""
        handles = open_chain(self.path)
        if handles:
            self.current = handles[-1]
            self._read = {_inode(h): h for h in handles[:-1]}
        return handles

    def successor(self) -> BinaryIO | None:
        """The file written after ``current``, open; None while ``current`` is the newest.

        A file with a newer one after it is complete: writers make the next
        file only once they are done with the last.
        """
        files = listing(self.path)
        listed = {inode for _, inode in files}
        for inode in [i for i in self._read if i not in listed]:
            self._read.pop(inode).close()
        if self.current is not None and _inode(self.current) in listed:
            inodes = [inode for _, inode in files]
            files = files[inodes.index(_inode(self.current)) + 1 :]
        else:
            files = [(file, inode) for file, inode in files if inode not in self._read]
        return _open_as_listed(*files[0]) if files else None

    def advance(self, following: BinaryIO) -> None:
        """Go on with ``following`` (from ``successor``), ``current`` having been read."""
        if self.current is not None:
            self._read[_inode(self.current)] = self.current
        self.current = following

    def close(self) -> None:
        for handle in [*self._read.values(), self.current]:
            if handle is not None:
                handle.close()
        self._read.clear()
        self.current = None


def _inode(handle: BinaryIO) -> int:
    return os.fstat(handle.fileno()).st_ino
