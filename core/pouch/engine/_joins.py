"""What a container takes from other containers and from its image at create and start.

At create: ``--volumes-from`` copies another container's volumes and bind
mounts into the config, and every container a ``container:NAME`` mode or a
``--link`` names must exist. At each start (``StartJoins.apply``): the
namespaces of running containers are joined by their ``/proc/<pid>/ns`` path,
a joined IPC namespace brings its /dev/shm along, legacy links become
environment variables and hosts lines, and ``--group-add`` names are looked up
in the container's /etc/group. Decisions only: the spec is changed in place,
files are written by the caller.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from pouch import oci
from pouch.drivers import Mount as RootMount
from pouch.engine._records import Records
from pouch.errors import Conflict, InvalidArgument, NoSuchContainer
from pouch.models import Container, ContainerConfig, Mount, State
from pouch.mounts import is_mountpoint, mount_all, unmount

__all__ = [
    "check_references",
    "expand_volumes_from",
    "release_shm",
    "shm_path",
    "start_joins",
]

_RUNNING = (State.RUNNING, State.PAUSED)
_NOT_INHERITED = ("HOME", "PATH", "HOSTNAME")


def _exists(records: Records, ref: str, field: str) -> Container:
    try:
        return records.lookup(ref)
    except NoSuchContainer:
        # 400, not 404: a client takes a 404 from create for a missing image.
        raise InvalidArgument(f"no such container: {ref}", field=field) from None


def check_references(records: Records, config: ContainerConfig) -> None:
    """Every container a namespace mode or a link names exists."""
    for kind, ref in oci.joined_modes(config).items():
        _exists(records, ref, f"{kind}_mode")
    for link in config.links:
        _exists(records, link.partition(":")[0], "links")


def expand_volumes_from(records: Records, config: ContainerConfig) -> ContainerConfig:
    """``config`` with the mounts of every ``volumes_from`` container added.

    A mount of the config itself wins at the same target; an anonymous volume
    of the other container is mounted by the name it was given. ``:ro`` and
    ``:rw`` override the other's read-only flag, as docker does.
    """
    if not config.volumes_from:
        return config
    mounts = list(config.mounts)
    taken = {m.target for m in mounts} | set(config.tmpfs)
    for entry in config.volumes_from:
        ref, _, mode = entry.partition(":")
        other = _exists(records, ref, "volumes_from")
        volume_names = iter(other.volumes)
        for mount in other.config.mounts:
            if mount.type == "tmpfs":
                continue
            name = ""
            driver = mount.driver
            if mount.type == "volume":
                driver, name = next(volume_names, (driver, mount.source))
            if mount.target in taken:
                continue
            read_only = mount.read_only if not mode else mode == "ro"
            if mount.type == "volume":
                copied = Mount(
                    type="volume",
                    target=mount.target,
                    source=mount.source or name,
                    driver=driver,
                    read_only=read_only,
                    options=list(mount.options),
                )
            else:
                copied = msgspec.structs.replace(mount, read_only=read_only)
            mounts.append(copied)
            taken.add(mount.target)
    return msgspec.structs.replace(config, mounts=mounts)


def _running(records: Records, ref: str, why: str) -> Container:
    other = records.lookup(ref)
    if other.state.status not in _RUNNING or not other.state.pid:
        raise Conflict(f"cannot {why} container {other.name}: it is not running")
    return other


def shm_path(container: Container) -> Path:
    """Where a shareable container's /dev/shm is mounted on the host."""
    return container.home / "shm"


def _mount_shm(container: Container) -> Path:
    """The host-side tmpfs of a shareable /dev/shm: others can bind it, as in docker."""
    path = shm_path(container)
    path.mkdir(parents=True, exist_ok=True)
    if not is_mountpoint(path):
        size = container.config.shm_size or oci.DEFAULT_SHM_SIZE
        options = ["mode=1777", f"size={size}"]  # nosuid, nodev, noexec: on the bind
        mount_all([RootMount(type="tmpfs", source="shm", options=options)], path)
    return path


def release_shm(container: Container) -> None:
    """Unmount a shareable container's /dev/shm (after its run); safe to repeat."""
    if container.config.ipc_mode == "shareable":
        unmount(shm_path(container))


def _donor_shm(other: Container) -> str:
    if other.config.ipc_mode == "shareable":
        return str(shm_path(other))
    if other.config.ipc_mode == "host":
        return "/dev/shm"
    raise Conflict(
        f"cannot join the IPC namespace of container {other.name}: its IPC is not"
        " shareable (run it with --ipc shareable)"
    )


def _bind_shm(spec: oci.Spec, source: str) -> None:
    spec.mounts = [m for m in spec.mounts if m.destination != "/dev/shm"]
    spec.mounts.append(
        oci.Mount(
            destination="/dev/shm",
            type="bind",
            source=source,
            options=["rbind", "nosuid", "nodev", "noexec"],
        )
    )


def _link_env(container: Container, other: Container, alias: str) -> list[str]:
    """docker's link variables: ALIAS_NAME, ALIAS_PORT…, ALIAS_ENV_… ."""
    prefix = alias.upper().replace("-", "_")
    address = _address(other)
    env = [f"{prefix}_NAME=/{container.name}/{alias}"]
    spec = msgspec.json.decode(other.spec, type=oci.Spec) if other.spec else None
    # exposed_ports holds the image's, --expose's and the published ones.
    exposed: set[tuple[int, str]] = {(p.container_port, p.protocol) for p in other.config.ports}
    for key in other.config.exposed_ports:
        number, _, kind = key.partition("/")
        if number.isdigit():
            exposed.add((int(number), kind or "tcp"))
    for index, (port, protocol) in enumerate(sorted(exposed)):
        url = f"{protocol}://{address}:{port}"
        if index == 0:
            env.append(f"{prefix}_PORT={url}")
        base = f"{prefix}_PORT_{port}_{protocol.upper()}"
        env += [
            f"{base}={url}",
            f"{base}_ADDR={address}",
            f"{base}_PORT={port}",
            f"{base}_PROTO={protocol}",
        ]
    for item in spec.process.env if spec and spec.process else other.config.env:
        name, sep, value = item.partition("=")
        if sep and name not in _NOT_INHERITED:
            env.append(f"{prefix}_ENV_{name}={value}")
    return env


def _address(container: Container) -> str:
    for attachment in container.attachments:
        for ip in attachment.ips:
            return ip.split("/")[0]
    return ""


def _group_lines(rootfs: list[RootMount]) -> list[list[str]]:
    """The container's /etc/group, read from its layers (the top one first)."""
    directories: list[str] = []
    for mount in rootfs:
        if mount.type == "bind":
            directories.append(mount.source)
            continue
        options = dict(o.partition("=")[::2] for o in mount.options if "=" in o)
        if "upperdir" in options:
            directories.append(options["upperdir"])
        directories += [d for d in options.get("lowerdir", "").split(":") if d]
    for directory in directories:
        path = Path(directory) / "etc" / "group"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        with os.fdopen(fd, errors="replace") as handle:
            return [line.rstrip("\n").split(":") for line in handle if line.count(":") >= 2]
    return []


def _groups(config: ContainerConfig, rootfs: list[RootMount]) -> list[int]:
    numbers: list[int] = []
    lines: list[list[str]] | None = None
    for group in config.group_add:
        if group.isdigit():
            numbers.append(int(group))
            continue
        if lines is None:
            lines = _group_lines(rootfs)
        found = next((e for e in lines if e[0] == group and e[2].isdigit()), None)
        if found is None:
            raise InvalidArgument(
                f"unable to find group {group}: no matching entries in group file",
                field="group_add",
            )
        numbers.append(int(found[2]))
    return numbers


def start_joins(
    records: Records, container: Container, spec: oci.Spec, rootfs: list[RootMount]
) -> list[str]:
    """Adjust ``spec`` for this start; the hosts lines the links add.

    Raises Conflict when a container whose namespace is joined, or a linked
    one, is not running.
    """
    config = container.config
    linux = spec.linux if spec.linux is not None else oci.Linux()
    spec.linux = linux
    for kind, ref in oci.joined_modes(config).items():
        other = _running(records, ref, f"join the {kind} namespace of")
        oci.join_namespace(linux.namespaces, kind, other.state.pid)
        if kind == "ipc":
            _bind_shm(spec, _donor_shm(other))
    if config.ipc_mode == "shareable":
        _bind_shm(spec, str(_mount_shm(container)))
    if config.group_add and spec.process is not None:
        user = spec.process.user
        gids = sorted({*user.additional_gids, *_groups(config, rootfs)})
        spec.process.user = msgspec.structs.replace(user, additional_gids=gids)
    hosts: list[str] = []
    for link in config.links:
        ref, _, alias = link.partition(":")
        other = _running(records, ref, f"link to ({ref}) the")
        alias = alias or other.name
        if spec.process is not None:
            present = {item.partition("=")[0] for item in spec.process.env}
            spec.process.env += [
                item
                for item in _link_env(container, other, alias)
                if item.partition("=")[0] not in present
            ]
        address = _address(other)
        if address:
            names = " ".join(dict.fromkeys([alias, other.id[:12], other.name]))
            hosts.append(f"{address}\t{names}")
    return hosts
