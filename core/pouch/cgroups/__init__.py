"""cgroups, once for every runtime: layouts, limits, usage, OOM kills, freezer, cleanup.

Runtimes that manage cgroups themselves (runc, crun, lxc) still read and
clean them up the same way; they share this package instead of copies. Every
reader takes the cgroup filesystem's ``root`` (``/sys/fs/cgroup`` by
default), so it can be pointed at a recorded tree. It must not create cgroups
or move processes: that is the runtime's.
"""

from __future__ import annotations

from pouch.cgroups._accounting import disks, with_v1_accounting
from pouch.cgroups._files import read_int, read_keyed
from pouch.cgroups._limits import device_rules, settings
from pouch.cgroups._names import SYSTEMD_SLICE, cgroup_dir, cgroups_path, systemd_booted
from pouch.cgroups._stats import ROOT, oom_kills, read_stats
from pouch.cgroups._tree import frozen, hierarchies, layout, remove, version

__all__ = [
    "ROOT",
    "SYSTEMD_SLICE",
    "cgroup_dir",
    "cgroups_path",
    "device_rules",
    "disks",
    "frozen",
    "hierarchies",
    "layout",
    "oom_kills",
    "read_int",
    "read_keyed",
    "read_stats",
    "remove",
    "settings",
    "systemd_booted",
    "version",
    "with_v1_accounting",
]
