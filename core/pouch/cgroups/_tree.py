"""The cgroup hierarchies of this host: which layout, where, and cleaning up.

Three layouts exist: cgroup v1 (a hierarchy per controller), hybrid (v1
controllers plus an empty cgroup2 tree at ``/sys/fs/cgroup/unified``, which
runtimes treat as v1) and unified v2. ``layout`` tells them apart from
``/proc/self/mountinfo``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Literal

from pouch.cgroups._names import cgroup_dir
from pouch.cgroups._stats import ROOT

__all__ = ["frozen", "hierarchies", "layout", "remove", "version"]


def layout(mountinfo: Path = Path("/proc/self/mountinfo")) -> Literal["v1", "hybrid", "v2"]:
    """``v2`` when ``/sys/fs/cgroup`` itself is cgroup2; ``hybrid`` with cgroup2 beside v1."""
    kinds: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in mountinfo.read_text().splitlines():
            before, _, after = line.partition(" - ")
            fields = before.split()
            if len(fields) >= 5:
                kinds.setdefault(fields[4], after.split(" ", 1)[0])
    if kinds.get("/sys/fs/cgroup") == "cgroup2":
        return "v2"
    unified = any(k == "cgroup2" for k in kinds.values())
    return "hybrid" if unified else "v1"


def version(mountinfo: Path = Path("/proc/self/mountinfo")) -> Literal[1, 2]:
    """The cgroup version runtimes use here: 2 only on a unified host."""
    return 2 if layout(mountinfo) == "v2" else 1


def hierarchies(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Every mounted cgroup hierarchy (each v1 controller, and any cgroup2 tree)."""
    found = []
    with contextlib.suppress(OSError):
        for line in mountinfo.read_text().splitlines():
            before, _, after = line.partition(" - ")
            fields = before.split()
            if len(fields) >= 5 and after.split(" ", 1)[0] in ("cgroup", "cgroup2"):
                found.append(Path(fields[4]))
    return found


def remove(*cgroups: str) -> None:
    """rmdir the given cgroups (deepest first) in every hierarchy; what is busy stays."""
    for hierarchy in hierarchies():
        for cgroup in cgroups:
            path = hierarchy / cgroup_dir(cgroup).strip("/")
            if path != hierarchy and path.is_dir():
                for child in sorted(path.glob("**/"), key=lambda p: len(p.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        child.rmdir()


def frozen(cgroup: str, version: int, *, root: Path = ROOT) -> bool:
    """Whether the freezer holds the cgroup (frozen, or on its way)."""
    relative = cgroup_dir(cgroup).strip("/")
    try:
        if version == 2:
            return "frozen 1" in (root / relative / "cgroup.events").read_text()
        return (root / "freezer" / relative / "freezer.state").read_text().strip() != "THAWED"
    except OSError:
        return False
