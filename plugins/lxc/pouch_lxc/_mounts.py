"""The spec's mounts as LXC sees them: automounts, ``lxc.mount.entry`` lines, targets.

LXC sets up /proc, /sys and /sys/fs/cgroup itself (``lxc.mount.auto``), a
fresh /dev (``lxc.autodev``) and a private devpts (``lxc.pty.max``); the
spec's default mounts of those become the matching settings, read-only or not
as the spec says. Every other mount (binds, tmpfs, /dev/shm, /dev/mqueue, the
engine's /etc/hosts …) becomes an fstab-style ``lxc.mount.entry``, and each of
its targets is returned so the runtime can create it in the root filesystem
beforehand (a read-only root filesystem cannot get new mount points later).
Docker's masked paths are covered with /dev/null or an empty read-only tmpfs,
its read-only paths re-bound read-only.
"""

from __future__ import annotations

import os

import msgspec

from pouch.oci import Mount, Spec

__all__ = ["MountPlan", "plan_mounts"]

# Handled by lxc.mount.auto / lxc.autodev / lxc.pty.max instead of an entry.
_SPECIAL = {
    ("/proc", "proc"),
    ("/sys", "sysfs"),
    ("/sys/fs/cgroup", "cgroup"),
    ("/dev/pts", "devpts"),
}
# LXC's proc:mixed already makes these read-only; re-binding /proc/sys would
# also stop the start-host hook's sysctls from being set.
_PROC_MIXED = {"/proc/sys", "/proc/sysrq-trigger"}
# Options that are the engine's or the kernel's business, not a mount flag LXC takes.
_DROPPED = {"rbind", "bind", "newinstance"}


class MountPlan(msgspec.Struct, kw_only=True):
    auto: list[str]
    autodev: bool
    entries: list[str]
    # (container path, is a directory) to create before the start.
    targets: list[tuple[str, bool]]


def _escape(text: str) -> str:
    """fstab escaping, as getmntent(3) decodes it."""
    return (
        text.replace("\\", "\\134")
        .replace(" ", "\\040")
        .replace("\t", "\\011")
        .replace("\n", "\\012")
    )


def _entry(source: str, target: str, fstype: str, options: list[str]) -> str:
    opts = ",".join(options) or "defaults"
    return f"{_escape(source)} {_escape(target.lstrip('/'))} {fstype} {_escape(opts)} 0 0"


def _bind(mount: Mount) -> tuple[str, bool]:
    recursive = "rbind" in mount.options or "bind" not in mount.options
    options = ["rbind" if recursive else "bind"]
    options += [o for o in mount.options if o not in _DROPPED]
    is_dir = os.path.isdir(mount.source)
    options.append("create=dir" if is_dir else "create=file")
    return _entry(mount.source, mount.destination, "none", options), is_dir


def _masks(spec: Spec) -> list[str]:
    linux = spec.linux
    if linux is None:
        return []
    entries = []
    for path in linux.masked_paths:
        if os.path.isdir(path):
            entries.append(_entry("tmpfs", path, "tmpfs", ["ro", "optional"]))
        elif os.path.exists(path):
            entries.append(_entry("/dev/null", path, "none", ["bind", "optional"]))
    for path in linux.readonly_paths:
        if path not in _PROC_MIXED and os.path.exists(path):
            relative = path.lstrip("/")
            entries.append(_entry(relative, path, "none", ["bind", "ro", "relative", "optional"]))
    return entries


def plan_mounts(spec: Spec) -> MountPlan:
    """Translate ``spec.mounts`` (and masked / read-only paths) for LXC."""
    by_target = {(m.destination, m.type): m for m in spec.mounts}
    auto = []
    proc = by_target.get(("/proc", "proc"))
    sysfs = by_target.get(("/sys", "sysfs"))
    cgroup = by_target.get(("/sys/fs/cgroup", "cgroup"))
    privileged = sysfs is not None and "ro" not in sysfs.options
    if proc is not None:
        # proc:mixed keeps /proc/sys read-only, as Docker does; rw when privileged.
        auto.append("proc:rw" if privileged else "proc:mixed")
    if sysfs is not None:
        auto.append("sys:ro" if "ro" in sysfs.options else "sys:rw")
    if cgroup is not None:
        # ":force" mounts the container's own cgroups even with a cgroup namespace.
        auto.append("cgroup:ro:force" if "ro" in cgroup.options else "cgroup:rw:force")
    autodev = False
    entries: list[str] = []
    targets: list[tuple[str, bool]] = []
    for mount in spec.mounts:
        if (mount.destination, mount.type) in _SPECIAL:
            continue
        if mount.destination == "/dev" and mount.type == "tmpfs":
            autodev = True
            continue
        if mount.type == "bind" or "bind" in mount.options or "rbind" in mount.options:
            entry, is_dir = _bind(mount)
        else:
            options = [o for o in mount.options if o not in _DROPPED] + ["create=dir"]
            source = mount.source or mount.type
            entry, is_dir = _entry(source, mount.destination, mount.type, options), True
        entries.append(entry)
        targets.append((mount.destination, is_dir))
    return MountPlan(auto=auto, autodev=autodev, entries=entries + _masks(spec), targets=targets)
