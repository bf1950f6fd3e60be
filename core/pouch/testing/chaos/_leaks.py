"""What must be gone once everything was removed: the host as it was before the run.

``HostView.take()`` records what the host holds that a container or network
could leave: network links, iptables rules, IPAM reservations, CNI cache
entries, mounts and files under the daemon's directories, cgroups and
processes naming a container, writable snapshots, blobs. ``leaks(before,
after)`` names every difference a removed container or network explains.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from pouch.mounts import mount_table
from pouch.testing.chaos._invariants import query_database

__all__ = ["HostView", "leaks"]

_ID = re.compile(r"[0-9a-f]{64}")
# Directories that hold one entry per container, sandbox or running monitor.
_PER_CONTAINER = (
    "containers",
    "netns",
    "runc/containers",
    "runc/state",
    "lxc",
    "kata/vms",
)


def _links() -> set[str]:
    done = subprocess.run(
        ["ip", "-j", "link", "show"], capture_output=True, text=True, check=False, timeout=30
    )
    if done.returncode != 0:
        return set()
    return {f"{link.get('link_kind', '')}:{link['ifname']}" for link in json.loads(done.stdout)}


def _iptables() -> set[str]:
    rules: set[str] = set()
    for program in ("iptables-save", "ip6tables-save"):
        try:
            done = subprocess.run(
                [program], capture_output=True, text=True, check=False, timeout=30
            )
        except FileNotFoundError:
            continue
        for line in done.stdout.splitlines():
            if line and not line.startswith(("#", "COMMIT", "*")):
                rules.add(f"{program}: " + re.sub(r" \[\d+:\d+\]$", "", line))
    return rules


def _files(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {str(p) for p in directory.iterdir()}


def _ipam(root: Path) -> set[str]:
    """host-local's reservations: one file per IP in each network's directory."""
    networks = root / "cni" / "networks"
    if not networks.is_dir():
        return set()
    return {
        str(p) for p in networks.glob("*/*") if not p.name.startswith(("last_reserved_ip", "lock"))
    }


def _cgroups(ids: set[str]) -> set[str]:
    """cgroup directories (three levels deep in each hierarchy) named with a container's ID."""
    found = set()
    base = Path("/sys/fs/cgroup")
    for directory, subdirs, _ in os.walk(base):
        depth = len(Path(directory).relative_to(base).parts)
        if depth >= 4:
            subdirs.clear()
            continue
        for sub in subdirs:
            match = _ID.search(sub)
            if match and match.group() in ids:
                found.add(os.path.join(directory, sub))
    return found


def _processes(ids: set[str], paths: tuple[Path, ...], exclude: int) -> set[str]:
    """Processes whose command line names a container or the daemon's directories."""
    found = set()
    markers = tuple(str(p) for p in paths)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == exclude:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        match = _ID.search(cmdline)
        if (match and match.group() in ids) or any(m in cmdline for m in markers):
            found.add(cmdline[:200])
    return found


def _snapshots(db: Path) -> set[str]:
    rows = query_database(db, "SELECT key, record FROM snapshots")
    return {
        f"active snapshot {key}"
        for key, record in rows
        if msgspec.msgpack.decode(record).get("kind") == "active"
    }


@dataclass
class HostView:
    items: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def take(cls, root: Path, run_root: Path, ids: set[str], daemon_pid: int) -> HostView:
        items = {
            "network links": _links(),
            "iptables rules": _iptables(),
            "IPAM reservations": _ipam(root),
            "CNI cache entries": _files(root / "cni" / "cache"),
            "mounts": {
                m.point for m in mount_table() if m.point.startswith((f"{root}/", f"{run_root}/"))
            },
            "cgroups": _cgroups(ids),
            "processes": _processes(ids, (root, run_root), daemon_pid),
            "snapshots": _snapshots(root / "pouch.db"),
            "blobs": _files(root / "blobs" / "sha256"),
            "snapshot directories": _files(root / "snapshots"),
            "volumes": _files(root / "volumes"),
        }
        for name in _PER_CONTAINER:
            items[f"{name}/"] = _files(run_root / name) | _files(root / name)
        return cls(items)


def leaks(before: HostView, after: HostView) -> list[str]:
    """What ``after`` holds that ``before`` did not, one line each."""
    found = []
    for kind, now in after.items.items():
        for item in sorted(now - before.items.get(kind, set())):
            found.append(f"leaked {kind}: {item}")
    return found
