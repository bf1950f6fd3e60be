"""``top``: the container's processes, as the host's ``ps`` lists them (as dockerd).

The members are found in the host's ``/proc``: every process in the
container's PID namespace, or, for a container sharing the host's PID
namespace, every process in its init's cgroups. Then the host's ``ps`` runs
with the caller's arguments and only the members' rows are kept, so neither
the container's image (busybox's ``ps`` takes no arguments) nor a ``ps`` of
our own shows up. Runtimes whose processes the host cannot see (a VM) fall
back to ``ps`` inside the container, less that ``ps`` itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pouch.errors import InvalidArgument

__all__ = ["host_members", "host_top", "parse_ps"]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _ns(pid: int | str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def host_members(init_pid: int) -> set[int]:
    """Host PIDs of the container whose init is ``init_pid``; empty if the host cannot see it."""
    namespace = _ns(init_pid)
    if not namespace:
        return set()
    own = namespace == _ns("self")
    cgroups = _read(f"/proc/{init_pid}/cgroup") if own else ""
    members = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        if own:
            if _read(f"/proc/{entry}/cgroup") == cgroups:
                members.add(int(entry))
        elif _ns(entry) == namespace:
            members.add(int(entry))
    return members


def parse_ps(output: str, keep: set[int] | None) -> tuple[list[str], list[list[str]]]:
    """``ps`` output → (titles, rows); with ``keep``, only rows whose PID is in it."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return [], []
    titles = lines[0].split()
    rows = [line.split(None, len(titles) - 1) for line in lines[1:]]
    if keep is None:
        return titles, rows
    if "PID" not in titles:
        raise InvalidArgument("ps arguments must keep the PID column", field="ps_args")
    column = titles.index("PID")
    kept = [row for row in rows if len(row) > column and row[column].isdigit()]
    return titles, [row for row in kept if int(row[column]) in keep]


def host_top(init_pid: int, ps_args: list[str]) -> tuple[list[str], list[list[str]]] | None:
    """The host's ``ps ps_args`` filtered to the container; None if the host cannot see it."""
    members = host_members(init_pid)
    if not members:
        return None
    done = subprocess.run(
        ["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()
        raise InvalidArgument(f"ps {' '.join(ps_args)}: {message}", field="ps_args")
    return parse_ps(done.stdout, members)
