"""Creating a container: validation, the image, the spec, volumes, the root filesystem.

``Creator`` turns a ``ContainerConfig`` into a stored ``Container`` in state
``created``: the runtime and networks must exist, the name must be free, the
image is resolved, the OCI spec is built and every plugin's
``pouch_container_create`` hook may adjust it, the volumes are staged and
published and the root filesystem snapshot is prepared. Anything made before
a failure is unmade (``Undo``), so a refused create leaves nothing behind.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable

import anyio
import msgspec

from pouch import cgroups, oci, userns
from pouch.config import EngineConfig
from pouch.drivers import Capability, PortMapping, Runtime
from pouch.engine import _joins, _names
from pouch.engine._health import with_image_healthcheck
from pouch.engine._networks import Networks
from pouch.engine._records import Records
from pouch.engine._undo import Undo
from pouch.engine._volumes import Volumes
from pouch.errors import Conflict, InvalidArgument
from pouch.images import ImageStore
from pouch.kernel import Kernel
from pouch.models import Container, ContainerConfig
from pouch.telemetry import operation, step
from pouch.userns import IdMap

__all__ = ["Creator", "default_runtime", "security_options", "with_exposed_ports"]

log = logging.getLogger(__name__)


def default_runtime(config: EngineConfig, kernel: Kernel) -> str:
    """The configured runtime, else the one a plugin names, else the first loaded."""
    if config.default_runtime:
        return config.default_runtime
    available = kernel.runtimes.names()
    named = kernel.pm.hook.pouch_default_runtime(config=config, available=available)
    return str(named) if named else next((r.name for r in kernel.runtimes), "")


class Creator:
    def __init__(
        self,
        config: EngineConfig,
        kernel: Kernel,
        records: Records,
        networks: Networks,
        volumes: Volumes,
        images: ImageStore,
        default_runtime: Callable[[], str],
    ) -> None:
        self.config = config
        self.kernel = kernel
        self.records = records
        self.networks = networks
        self.volumes = volumes
        self.images = images
        self._default_runtime = default_runtime
        self._remap: IdMap | None = None

    async def create(self, config: ContainerConfig, *, name: str | None = None) -> Container:
        """Validate, resolve the image, build the spec, prepare the root filesystem."""
        runtime = self.kernel.runtimes.get(config.runtime or self._default_runtime())
        hostname = config.hostname
        if config.network_container:
            shared = self.records.lookup(config.network_container)
            config = msgspec.structs.replace(config, network_container=shared.id, networks=["none"])
            hostname = shared.config.hostname or shared.id[:12]
        networks = config.networks or [self.networks.default]
        for network in networks:
            self.networks.driver(network)
        for network, endpoint in config.endpoints.items():
            self.networks.check_endpoint(network, endpoint)
        if "host" in networks and len(networks) > 1:
            raise InvalidArgument(
                "the host network cannot be combined with others", field="networks"
            )
        _joins.check_references(self.records, config)
        config = _joins.expand_volumes_from(self.records, config)
        generated = not name
        name = _names.validate_name(name) if name else self._free_name()
        holder = self.records.by_name(name)
        if holder is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container'
                f' "{holder.id}". You have to remove (or rename) that container to be able'
                " to reuse that name."
            )
        with step("image.resolve"):
            image = await anyio.to_thread.run_sync(self.images.resolve, config.image)
        config = with_exposed_ports(config, image.config)
        config = with_image_healthcheck(config, image.config.healthcheck)
        idmap = self._idmap(config, runtime)
        container_id = secrets.token_hex(32)
        directory = self.config.root / "containers" / container_id
        with operation("container.create", container_id=container_id, runtime=runtime.name):
            container = Container(
                id=container_id,
                name=name,
                config=config,
                image_id=image.id,
                runtime=runtime.name,
                created_at=time.time(),
                sandbox_id=container_id,
                directory=str(directory),
                log_path=config.log_options.get("path") or str(directory / "container.log"),
            )
            async with Undo(f"create {container_id[:12]}") as undo:
                with step("volumes.publish"):
                    mounts = await self.volumes.publish_all(container, undo)
                with step("spec.build"):
                    spec = oci.build_spec(
                        config,
                        image=image.config,
                        container_id=container_id,
                        hostname=hostname or container_id[:12],
                        mounts=mounts,
                        cgroups_path=self._cgroups_path(container_id, runtime),
                    )
                    if idmap is not None:
                        _remap(spec, idmap, own_netns=networks == ["none"])
                    self.kernel.call("pouch_container_create", container=container, spec=spec)
                    if spec.process is not None and not spec.process.args:
                        raise InvalidArgument(
                            "no command to run: neither the config nor the image sets"
                            " entrypoint or cmd",
                            field="cmd",
                        )
                    _check_seccomp(runtime, config, spec)
                    _check_devices(runtime, spec)
                    _check_hooks(runtime, spec)
                    if config.enable_lxcfs and oci.ANNOTATION_LXCFS not in spec.annotations:
                        raise InvalidArgument(
                            "no plugin gives containers lxcfs here: pip install pouch-isolation"
                            " and apt-get install lxcfs",
                            field="enable_lxcfs",
                        )
                    container.spec = msgspec.json.encode(spec)
                directory.mkdir(parents=True, exist_ok=True)
                undo.push("container dir", _in_thread(shutil.rmtree, directory, True))
                with step("rootfs.prepare"):
                    await anyio.to_thread.run_sync(self.images.rootfs, container_id, image, idmap)
                undo.push("rootfs", _in_thread(self.images.release, container_id))
                writable = self.images.writable(container_id)
                self.kernel.call("pouch_container_rootfs", container=container, writable=writable)
                with step("record.save"):
                    self._add_record(container, generated=generated)
        self.records.publish(container, "create")
        return container

    def _cgroups_path(self, container_id: str, runtime: Runtime) -> str:
        """systemd's scope where it manages cgroups and the runtime can ask it; else cgroupfs."""
        manager = self.config.cgroup_manager
        if Capability.SYSTEMD_CGROUP not in runtime.describe().capabilities:
            manager = "cgroupfs"
        return cgroups.cgroups_path(container_id, manager)

    def _idmap(self, config: ContainerConfig, runtime: Runtime) -> IdMap | None:
        """The user-namespace mapping for this container; None for the host's."""
        if not self.config.userns_remap or config.userns_mode == "host":
            return None
        if config.privileged:
            raise InvalidArgument(
                "a privileged container cannot run in the remapped user namespace:"
                " add --userns host",
                field="privileged",
            )
        if Capability.USERNS not in runtime.describe().capabilities:
            raise InvalidArgument(
                f"the {runtime.name} runtime cannot run user-namespaced containers:"
                " add --userns host or choose another runtime",
                field="userns_mode",
            )
        if self._remap is None:
            self._remap = userns.resolve(self.config.userns_remap)
        return self._remap

    def _add_record(self, container: Container, *, generated: bool) -> None:
        """Store the new record; a generated name taken meanwhile is drawn again."""
        for _ in range(20):
            try:
                self.records.add(container)
                return
            except Conflict:
                if not generated:
                    raise
                container.name = self._free_name()
        self.records.add(container)

    def _free_name(self) -> str:
        for _ in range(50):
            name = _names.generate_name()
            if self.records.by_name(name) is None:
                return name
        return f"{_names.generate_name()}_{secrets.token_hex(3)}"


def with_exposed_ports(config: ContainerConfig, image: oci.ImageConfig) -> ContainerConfig:
    """``config`` with the image's exposed ports added, and, with
    ``publish_all_ports``, every exposed port not yet published on a free host port."""
    exposed = list(config.exposed_ports)
    published = [f"{p.container_port}/{p.protocol}" for p in config.ports]
    for key in [*(image.exposed_ports or {}), *published]:
        key = key if "/" in key else f"{key}/tcp"
        if key not in exposed:
            exposed.append(key)
    ports = list(config.ports)
    if config.publish_all_ports:
        for key in exposed:
            if key not in published:
                number, _, protocol = key.partition("/")
                port = {"container_port": int(number), "protocol": protocol}
                ports.append(msgspec.convert(port, PortMapping))
    return msgspec.structs.replace(config, exposed_ports=exposed, ports=ports)


def security_options(config: EngineConfig, kernel: Kernel, runtime_name: str) -> list[str]:
    """What plugins enforce, less a seccomp filter ``runtime_name`` cannot apply."""
    found = kernel.call("pouch_security_options", config=config)
    options = [option for options in found for option in options]
    if runtime_name not in kernel.runtimes.names():
        return options
    capabilities = kernel.runtimes.get(runtime_name).describe().capabilities
    if config.userns_remap and Capability.USERNS in capabilities:
        options.append("name=userns")
    if Capability.SECCOMP in capabilities:
        return options
    return [option for option in options if not option.startswith("name=seccomp")]


def _remap(spec: oci.Spec, idmap: IdMap, *, own_netns: bool) -> None:
    """A user namespace with ``idmap``'s mappings in ``spec``.

    A network namespace the engine made (a network's) or the host's belongs
    to the host's user namespace, and sysfs can only be mounted from the
    namespace owning it: /sys becomes a read-only bind of the host's then, as
    dockerd does it.
    """
    if not own_netns:
        for index, mount in enumerate(spec.mounts):
            if mount.type == "sysfs":
                options = ["rbind", "nosuid", "noexec", "nodev", "ro"]
                spec.mounts[index] = oci.Mount(
                    destination=mount.destination, type="bind", source="/sys", options=options
                )
    linux = spec.linux if spec.linux is not None else oci.Linux()
    if not any(n.type == "user" for n in linux.namespaces):
        linux.namespaces.append(oci.LinuxNamespace(type="user"))
    linux.uid_mappings = [oci.LinuxIDMapping(container_id=0, host_id=idmap.uid, size=idmap.size)]
    linux.gid_mappings = [oci.LinuxIDMapping(container_id=0, host_id=idmap.gid, size=idmap.size)]
    spec.linux = linux


def _check_seccomp(runtime: Runtime, config: ContainerConfig, spec: oci.Spec) -> None:
    """A runtime that cannot filter syscalls runs no container that asks it to."""
    if spec.linux is None or spec.linux.seccomp is None:
        return
    if Capability.SECCOMP in runtime.describe().capabilities:
        return
    if config.seccomp_profile:
        raise InvalidArgument(
            f"the {runtime.name} runtime cannot apply a seccomp profile; choose another"
            " runtime or --security-opt seccomp=unconfined",
            field="seccomp_profile",
        )
    log.warning(
        "runtime %s applies no seccomp filter: the container runs without one", runtime.name
    )
    spec.linux.seccomp = None


def _check_hooks(runtime: Runtime, spec: oci.Spec) -> None:
    """A runtime that runs no OCI hooks gets none: a container that needs them
    (a create hook said so) is refused, others start without them, logged."""
    if spec.hooks is None or Capability.HOOKS in runtime.describe().capabilities:
        return
    needs = spec.annotations.get(oci.ANNOTATION_NEEDS_HOOKS, "")
    if needs:
        field, _, what = needs.partition(":")
        raise InvalidArgument(
            f"the {runtime.name} runtime cannot run {what} (it runs no OCI hooks);"
            " choose another runtime (runc, crun, lxc)",
            field=field,
        )
    if any(getattr(spec.hooks, f) for f in spec.hooks.__struct_fields__):
        log.warning(
            "runtime %s runs no OCI hooks: the container starts without those that matched it",
            runtime.name,
        )
    spec.hooks = None


def _check_devices(runtime: Runtime, spec: oci.Spec) -> None:
    """A runtime that cannot create device nodes runs no container with ``--device``."""
    if spec.linux is None or not spec.linux.devices:
        return
    if Capability.DEVICES not in runtime.describe().capabilities:
        raise InvalidArgument(
            f"the {runtime.name} runtime cannot add devices to a container; choose another"
            " runtime (runc, crun)",
            field="devices",
        )


def _in_thread(func: Callable[..., object], *args: object) -> Callable[[], Awaitable[None]]:
    async def step() -> None:
        await anyio.to_thread.run_sync(func, *args)

    return step
