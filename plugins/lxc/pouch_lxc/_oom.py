"""Noticing OOM kills in the container's cgroup while it runs, for ``oom_killed``.

LXC removes the container's cgroup as soon as the init is gone, before the
monitor could read its counters; so the monitor watches while it runs: on
cgroup v1 through an eventfd registered for ``memory.oom_control`` (the kernel
signals it on an OOM and when the cgroup goes), on v2 by polling
``memory.events``, which the kernel flags on every change. Either way the
counter that decides is ``oom_kill``.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from pathlib import Path

from pouch.cgroups import read_keyed

__all__ = ["watch_oom"]

ROOT = Path("/sys/fs/cgroup")


def _oom_kills(path: Path) -> int:
    return read_keyed(path).get("oom_kill", 0)


def _watch_v1(base: Path, seen: threading.Event) -> None:
    control = base / "memory.oom_control"
    efd = os.eventfd(0)
    ofd = os.open(control, os.O_RDONLY)
    try:
        (base / "cgroup.event_control").write_text(f"{efd} {ofd}")
        while base.is_dir():
            if _oom_kills(control):  # also one before the eventfd was registered
                seen.set()
                return
            os.eventfd_read(efd)
    finally:
        os.close(ofd)
        os.close(efd)


def _watch_v2(base: Path, seen: threading.Event) -> None:
    events = base / "memory.events"
    fd = os.open(events, os.O_RDONLY)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLPRI | select.POLLERR)
        while base.is_dir():
            if _oom_kills(events):
                seen.set()
                return
            poller.poll(1000)
    finally:
        os.close(fd)


def watch_oom(cgroup: str, version: int, seen: threading.Event, exited: threading.Event) -> None:
    """Set ``seen`` when the cgroup records an OOM kill; returns when it is gone.

    Started before LXC creates the cgroup: it waits for it to appear (or for
    ``exited``, when the container never got that far)."""
    relative = cgroup.strip("/")
    base = ROOT / relative if version == 2 else ROOT / "memory" / relative
    while not base.is_dir():
        if exited.wait(0.002):
            return
    with contextlib.suppress(OSError):
        if version == 2:
            _watch_v2(base, seen)
        else:
            _watch_v1(base, seen)
