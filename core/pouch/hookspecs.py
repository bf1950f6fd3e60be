"""Every hook a pouch plugin can implement: the contract between core and plugins.

Two kinds (see ``pouch.markers`` for how to write one):

* Registration hooks return driver objects (``pouch.drivers``). The kernel calls
  them once per plugin, as that plugin is registered, so a plugin registered
  late still contributes; each plugin's failure is its own.
* Lifecycle hooks are broadcast to every plugin in order (``tryfirst`` /
  ``trylast`` to move), synchronously. They may change the objects they are
  given where a docstring says so; an exception aborts the operation and is
  reported with the plugin's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pouch.markers import _hookspec as hookspec

if TYPE_CHECKING:
    from pathlib import Path

    from pouch.builders import Builder
    from pouch.config import EngineConfig
    from pouch.distribution import Source
    from pouch.drivers import NetworkDriver, Runtime, Service, VolumeDriver
    from pouch.engine import Engine
    from pouch.models import Container
    from pouch.oci import Spec


# ---------------------------------------------------------------------------
# registration: drivers and services a plugin provides
# ---------------------------------------------------------------------------


@hookspec
def pouch_add_runtimes(config: EngineConfig) -> list[Runtime]:
    """Return the container runtimes this plugin provides.

    :param config: the engine's configuration; ``config.plugin_settings(name)``
        gives this plugin's own section.
    :return: runtime objects, each with a unique ``name`` (``--runtime NAME``).
        Raise ``pouch.PluginSkip(reason)`` when the runtime cannot work on this
        host (binary missing, no /dev/kvm).
    """


@hookspec
def pouch_add_network_drivers(config: EngineConfig) -> list[NetworkDriver]:
    """Return the network drivers this plugin provides (``--network-driver NAME``).

    :param config: the engine's configuration.
    :return: network driver objects, each with a unique ``name``.
    """


@hookspec
def pouch_add_volume_drivers(config: EngineConfig) -> list[VolumeDriver]:
    """Return the volume drivers this plugin provides (``--volume-driver NAME``).

    :param config: the engine's configuration.
    :return: volume driver objects, each with a unique ``name``.
    """


@hookspec
def pouch_add_builders(config: EngineConfig) -> list[Builder]:
    """Return the image builders this plugin provides (``pouch build``, ``POST /build``).

    :param config: the engine's configuration.
    :return: builder objects (``pouch.builders.Builder``), each with a unique
        ``name``; a build without a name uses the first registered.
    """


@hookspec
def pouch_add_services(config: EngineConfig) -> list[Service]:
    """Return long-running services (a CRI server …) to run with the engine.

    Each service's ``serve()`` is started in the engine's task group after
    ``pouch_engine_started`` and cancelled when the engine stops.

    :param config: the engine's configuration.
    """


@hookspec(firstresult=True)
def pouch_default_runtime(config: EngineConfig, available: list[str]) -> str | None:
    """Name the runtime for containers that name none, when the config names none.

    Asked each time such a container is created; the first plugin to answer
    wins (``tryfirst`` to go ahead). Without any answer the engine takes the
    first runtime loaded.

    :param config: the engine's configuration.
    :param available: the names of every runtime loaded now.
    :return: one of ``available``, or None to leave the choice to others.
    """


@hookspec
def pouch_security_options(config: EngineConfig) -> list[str]:
    """What this plugin really enforces on containers, as ``docker info`` lists it.

    Return entries in Docker's ``SecurityOptions`` form (``name=seccomp,profile=builtin``,
    ``name=userns``); return nothing for a protection this host cannot give.

    :param config: the engine's configuration.
    """


# ---------------------------------------------------------------------------
# engine: start and stop of the whole engine
# ---------------------------------------------------------------------------


@hookspec
def pouch_blob_peers(config: EngineConfig, registry: str, repository: str) -> list[Source]:
    """Peers that may hold blobs of ``registry``/``repository``, for one pull.

    Called once per pull, from a worker thread; each blob is then asked of
    the peers in order, then of the registry's mirrors, then of the registry,
    and whatever a peer serves is verified by digest before it is stored. A
    peer that lacks a blob raises ``NoSuchObject`` from ``open``; one that
    cannot serve it raises a ``RegistryError``. Manifests by tag never come
    from peers.

    :param config: the engine's configuration.
    :param registry: the image's registry (``docker.io``, ``host:port``).
    :param repository: the repository within it (``library/busybox``).
    """


@hookspec
def pouch_engine_started(engine: Engine) -> None:
    """Called once the engine has reconciled its state and is ready for requests.

    :param engine: the running engine (use its public methods only).
    """


@hookspec
def pouch_engine_stopping(engine: Engine) -> None:
    """Called when the engine begins to stop; containers keep running.

    :param engine: the engine; it still answers reads, not new work.
    """


# ---------------------------------------------------------------------------
# container lifecycle and isolation
# ---------------------------------------------------------------------------


@hookspec
def pouch_container_create(container: Container, spec: Spec) -> None:
    """Adjust a new container's OCI runtime spec before any runtime sees it.

    This is where isolation features plug in: lxcfs mounts, disk quota, a rich
    container's init, extra devices or annotations. Change ``spec`` in place;
    raise ``pouch.errors.InvalidArgument`` to refuse the container (the user
    sees the message). Called once per create, after named volumes are mounted
    and before the root filesystem is prepared; a refusal undoes what was made.

    :param container: the container record (``container.config`` is the user's
        validated request); do not modify it.
    :param spec: the OCI runtime spec the engine built; modify in place.
    """


@hookspec
def pouch_container_rootfs(container: Container, writable: Path) -> None:
    """The container's writable layer exists: limit it, label it, account for it.

    Called once per create, right after the root filesystem was prepared and
    before the record is stored. ``writable`` is the directory every write of
    the container lands in (disk quota sets its project here). Raise
    ``pouch.errors.InvalidArgument`` to refuse the container; the create is
    undone. Release what you set up in ``pouch_container_removed``.

    :param container: the new record; do not modify it.
    :param writable: a directory on the engine's state filesystem.
    """


@hookspec
def pouch_container_started(container: Container) -> None:
    """Called after a container's process started (also after each restart).

    :param container: the record, ``state.status`` running and ``state.pid`` set
        where the runtime has a host PID.
    """


@hookspec
def pouch_container_exited(container: Container, exit_code: int) -> None:
    """Called once per exit of a container's process, before any restart policy acts.

    :param container: the record, already marked exited.
    :param exit_code: the process's exit status (128+N when killed by signal N).
    """


@hookspec
def pouch_container_removed(container: Container) -> None:
    """Called after a container and everything the engine made for it are gone.

    Release what a ``pouch_container_create`` hook reserved. Exceptions are
    logged and do not undo the removal.

    :param container: the record as it was before removal.
    """
