"""What ``create`` leaves in a container's directory before anything runs.

The snapshot mounted as ``rootfs/``, the user resolved in its /etc/passwd, the
LXC configuration and hook rendered from the spec, the mount targets and
working directory created in the root filesystem, and ``monitor.json``: the
monitor's orders for ``start``. Nothing here starts a process.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from pouch import oci, userns
from pouch.drivers import RuntimeContainer
from pouch.errors import InvalidArgument
from pouch.mounts import mount_all
from pouch.users import resolve_user
from pouch_lxc._config import render
from pouch_lxc._paths import ensure_target
from pouch_lxc._state import ContainerDir, MonitorSpec

__all__ = ["prepare"]


def prepare(
    container: RuntimeContainer,
    paths: ContainerDir,
    *,
    lxc_start: str,
    lxcpath: Path,
    cgroup_version: int,
) -> None:
    """Fill ``paths`` (an empty directory) for ``container``; the caller cleans up on error."""
    process = container.spec.process
    if process is None or not process.args:
        raise InvalidArgument("the container has no command to run")
    paths.rootfs.mkdir()
    mount_all(container.rootfs, paths.rootfs)
    user = resolve_user(process.user, paths.rootfs)
    rendered = render(
        container,
        rootfs=paths.rootfs,
        hook_path=paths.hook,
        seccomp_path=paths.seccomp,
        user=user,
        cgroup_version=cgroup_version,
    )
    for target, directory in rendered.targets:
        ensure_target(paths.rootfs, target, directory=directory)
    if rendered.hook:
        paths.hook.write_text(rendered.hook)
        paths.hook.chmod(0o755)
    if rendered.seccomp:
        paths.seccomp.write_text(rendered.seccomp)
    paths.config.write_text(rendered.text)
    linux = container.spec.linux
    if linux is not None:
        for uids, gids in zip(linux.uid_mappings, linux.gid_mappings, strict=False):
            userns.allow_root(uids.host_id, gids.host_id, min(uids.size, gids.size))
    size = process.console_size
    spec = MonitorSpec(
        lxc_start=lxc_start,
        lxcpath=str(lxcpath),
        name=container.id,
        args=list(process.args),
        env=list(process.env),
        capabilities=list(process.capabilities.bounding if process.capabilities else []),
        cgroup=rendered.cgroup,
        cgroup_version=cgroup_version,
        log_path=str(container.log_path),
        log_max_size=container.log_max_size,
        terminal=process.terminal,
        stdin=process.terminal or bool(container.spec.annotations.get(oci.ANNOTATION_STDIN)),
        height=size.height if size else 0,
        width=size.width if size else 0,
    )
    paths.spec.write_bytes(msgspec.json.encode(spec))
