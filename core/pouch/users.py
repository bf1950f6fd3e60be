"""Resolve ``user[:group]`` names against the container's own /etc/passwd and /etc/group.

OCI runtimes and LXC take numeric IDs only; Docker resolves names inside the
image. Runtimes call this once the root filesystem is in place.
The files are read without following symlinks out of the root filesystem.
"""

from __future__ import annotations

import os
from pathlib import Path

from pouch.errors import InvalidArgument
from pouch.oci import User

__all__ = ["resolve_user"]


def _entries(rootfs: Path, name: str) -> list[list[str]]:
    path = rootfs / "etc" / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return []
    with os.fdopen(fd, errors="replace") as handle:
        return [line.rstrip("\n").split(":") for line in handle if line.count(":") >= 2]


def resolve_user(user: User, rootfs: Path) -> User:
    """Fill uid, gid and additional groups from the image, as Docker does."""
    username = user.username
    if not username:
        return user
    name, _, group = username.partition(":")
    passwd = _entries(rootfs, "passwd")
    uid, gid = user.uid, user.gid
    home_user = ""
    if name and not name.isdigit():
        match = next((e for e in passwd if e[0] == name and len(e) >= 4), None)
        if match is None:
            raise InvalidArgument(
                f"unable to find user {name}: no matching entries in passwd file", field="user"
            )
        uid, gid, home_user = int(match[2]), int(match[3]), match[0]
    elif name:
        uid = int(name)
        match = next((e for e in passwd if len(e) >= 4 and e[2] == name), None)
        if match is not None:
            gid, home_user = int(match[3]), match[0]
    groups = _entries(rootfs, "group")
    if group and not group.isdigit():
        found = next((e for e in groups if e[0] == group), None)
        if found is None:
            raise InvalidArgument(
                f"unable to find group {group}: no matching entries in group file", field="user"
            )
        gid = int(found[2])
    elif group:
        gid = int(group)
    member_of = {
        int(e[2]) for e in groups if home_user and len(e) >= 4 and home_user in e[3].split(",")
    }
    # The groups the user is a member of, and those the spec adds (--group-add).
    extra = sorted((member_of - {gid}) | set(user.additional_gids))
    return User(uid=uid, gid=gid, additional_gids=extra)
