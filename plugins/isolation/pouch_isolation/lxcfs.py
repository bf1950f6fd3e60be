"""The ``lxcfs`` plugin: ``--enable-lxcfs`` gives a container its own view of /proc.

``free`` in a ``--memory 256m`` container shows 256 MiB, ``nproc`` and
``/proc/cpuinfo`` follow ``--cpuset-cpus``, ``uptime`` starts with the
container. The create hook bind-mounts lxcfs's files over the container's
(``pouch_isolation._host.FILES``); the service keeps lxcfs answering and, when
its mount is a new one (lxcfs died and was started again), mounts the files
again into every running container that has them, without restarting it.

Settings (``[plugin.lxcfs]`` in pouchd.toml): ``enable = true`` makes it the
default for containers that do not say; ``mount = "/var/lib/lxcfs"`` uses an
lxcfs someone else runs instead of starting one under the run root.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from pouch import oci
from pouch.errors import InvalidArgument, PluginSkip
from pouch.markers import hookimpl
from pouch_isolation._host import FILES, Lxcfs

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.drivers import Service
    from pouch.engine import Engine
    from pouch.models import Container

__all__ = [
    "ANNOTATION",
    "pouch_add_services",
    "pouch_container_create",
    "pouch_engine_started",
    "pouch_engine_stopping",
    "pouch_security_options",
]

log = logging.getLogger(__name__)

#: Set on the spec of a container that has lxcfs's files; its value is the mount used.
ANNOTATION = oci.ANNOTATION_LXCFS
_POLL = 0.5


class _Plugin:
    """What the hooks share: one engine per process runs this plugin at a time."""

    def __init__(self) -> None:
        self.lxcfs: Lxcfs | None = None
        self.default = False
        self.engine: Engine | None = None


_plugin = _Plugin()


class Watcher:
    """The service: lxcfs kept answering, running containers kept mounted."""

    name = "lxcfs"

    def __init__(self, lxcfs: Lxcfs) -> None:
        self.lxcfs = lxcfs
        self._warned = False

    async def serve(self) -> None:
        # lxcfs is started by the first container that asks for it (or adopted
        # here for the running ones an earlier pouchd left); until then there
        # is nothing to watch.
        engine = _plugin.engine
        if engine is not None and _users(engine):
            await anyio.to_thread.run_sync(self._ensure_or_warn)
        while True:
            if self.lxcfs.mount is not None:
                before = self.lxcfs.generation
                await anyio.to_thread.run_sync(self._ensure_or_warn)
                if before and self.lxcfs.generation != before:
                    await self.remount()
            await anyio.sleep(_POLL)

    def _ensure_or_warn(self) -> None:
        try:
            self.lxcfs.ensure()
            self._warned = False
        except OSError as exc:
            if not self._warned:
                log.warning("lxcfs: %s; containers read the host's /proc meanwhile", exc)
            self._warned = True

    async def remount(self) -> None:
        engine, mount = _plugin.engine, self.lxcfs.mount
        if engine is None or mount is None:
            return
        for container in _users(engine):
            pairs = [f"{mount / rel}:/{rel}" for rel in FILES if (mount / rel).exists()]
            command = [sys.executable, "-m", "pouch_isolation._inject", str(container.state.pid)]
            done = await anyio.run_process([*command, *pairs], check=False)
            if done.returncode:
                log.warning(
                    "lxcfs: cannot mount its files again into %s: %s",
                    container.name,
                    done.stderr.decode(errors="replace").strip(),
                )
            else:
                log.info("lxcfs: mounted its files again into %s", container.name)


def _users(engine: Engine) -> list[Container]:
    """Running containers that have lxcfs's files."""
    return [c for c in engine.list() if c.state.pid and ANNOTATION in _annotations(c)]


def _annotations(container: Container) -> dict[str, Any]:
    try:
        spec = msgspec.json.decode(container.spec or b"{}")
    except msgspec.DecodeError:
        return {}
    annotations: dict[str, Any] = spec.get("annotations") or {}
    return annotations


@hookimpl
def pouch_add_services(config: EngineConfig) -> list[Service]:
    settings = config.plugin_settings("lxcfs")
    configured = Path(str(settings["mount"])) if settings.get("mount") else None
    binary = shutil.which("lxcfs")
    if binary is None and configured is None:
        raise PluginSkip("lxcfs not found on PATH; install the Debian package lxcfs")
    if not Path("/dev/fuse").exists():
        raise PluginSkip("lxcfs needs FUSE and this host has no /dev/fuse")
    _plugin.lxcfs = Lxcfs(binary or "lxcfs", config.run_root / "lxcfs" / "mount", configured)
    _plugin.default = bool(settings.get("enable", False))
    return [Watcher(_plugin.lxcfs)]


@hookimpl
def pouch_engine_started(engine: Engine) -> None:
    _plugin.engine = engine


@hookimpl
def pouch_engine_stopping(engine: Engine) -> None:
    # The lxcfs pouch started serves running containers after pouchd is gone;
    # with none left to serve it stops too.
    if _plugin.lxcfs is not None and not _users(engine):
        _plugin.lxcfs.stop()
    _plugin.engine = None


@hookimpl
def pouch_container_create(container: Container, spec: oci.Spec) -> None:
    wanted = container.config.enable_lxcfs
    if not (_plugin.default if wanted is None else wanted):
        return
    lxcfs = _plugin.lxcfs
    if lxcfs is None:
        raise InvalidArgument("lxcfs is not available here", field="enable_lxcfs")
    try:
        mount = lxcfs.ensure() if lxcfs.mount is None else lxcfs.mount
    except OSError as exc:
        raise InvalidArgument(f"{exc}; see pouchd's log", field="enable_lxcfs") from None
    taken = {m.destination for m in spec.mounts}
    for rel in FILES:
        source = mount / rel
        if f"/{rel}" not in taken and source.exists():
            spec.mounts.append(
                oci.Mount(destination=f"/{rel}", type="bind", source=str(source), options=["bind"])
            )
    spec.annotations[ANNOTATION] = str(mount)


@hookimpl
def pouch_security_options(config: EngineConfig) -> list[str]:
    return ["name=lxcfs"] if _plugin.lxcfs is not None else []
