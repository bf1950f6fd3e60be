"""What every handler shares: the engine, exec sessions, and the daemon's own state.

``Daemon`` is an async context manager owning a task group for the work that
outlives one request: removing ``AutoRemove`` containers when they exit,
detached execs, and forgetting exec sessions of removed containers. Its
state file (``<root>/daemon/state.json``) keeps what the Docker API has and
the engine's model does not (yet): which containers remove themselves, and
the user-defined networks' records. It must not change containers except
through ``Engine``'s public operations.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.abc
import msgspec

from pouch.errors import NoSuchContainer, PouchError
from pouch.events import EventFilter
from pouch.models import ExecConfig, State

if TYPE_CHECKING:
    from pouch.drivers import ExecProcess
    from pouch.engine import Engine

__all__ = ["Daemon", "ExecSession", "NetworkRecord"]

log = logging.getLogger("pouch.daemon")

_MAX_FINISHED_EXECS = 256


class NetworkRecord(msgspec.Struct, kw_only=True):
    id: str
    name: str
    driver: str
    created: float
    options: dict[str, str] = {}
    labels: dict[str, str] = {}


class _State(msgspec.Struct, kw_only=True):
    id: str = ""
    auto_remove: list[str] = []
    networks: dict[str, NetworkRecord] = {}


class ExecSession:
    """One ``exec``: created by one request, started by another, inspected after."""

    def __init__(
        self, container_id: str, config: ExecConfig, *, stdout: bool, stderr: bool
    ) -> None:
        self.id = secrets.token_hex(32)
        self.container_id = container_id
        self.config = config
        self.stdout = stdout
        self.stderr = stderr
        self.state: Literal["created", "running", "exited"] = "created"
        self.exit_code: int | None = None
        self.process: ExecProcess | None = None
        self.finished_at = 0.0

    def finish(self, exit_code: int) -> None:
        self.exit_code = exit_code
        self.state = "exited"
        self.process = None
        self.finished_at = time.time()


class Daemon:
    """``async with Daemon(engine) as daemon``: the context handlers receive."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.started_at = time.time()
        self.execs: dict[str, ExecSession] = {}
        self._path = engine.config.root / "daemon" / "state.json"
        self._state = self._load(self._path)
        if not self._state.id:
            self._state.id = str(uuid.uuid4())
            self._save()
        self._tg: anyio.abc.TaskGroup | None = None

    # -- state file --------------------------------------------------------------

    @staticmethod
    def _load(path: Path) -> _State:
        try:
            return msgspec.json.decode(path.read_bytes(), type=_State)
        except FileNotFoundError:
            return _State()
        except msgspec.DecodeError as exc:
            log.warning("%s is unreadable (%s); starting afresh", path, exc)
            return _State()

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(self._state))
        os.replace(tmp, self._path)

    @property
    def daemon_id(self) -> str:
        return self._state.id

    def set_auto_remove(self, container_id: str) -> None:
        self._state.auto_remove.append(container_id)
        self._save()

    def auto_removes(self, container_id: str) -> bool:
        return container_id in self._state.auto_remove

    @property
    def networks(self) -> dict[str, NetworkRecord]:
        return self._state.networks

    def save_network(self, record: NetworkRecord) -> None:
        self._state.networks[record.name] = record
        self._save()

    def drop_network(self, name: str) -> None:
        self._state.networks.pop(name, None)
        self._save()

    # -- background work -----------------------------------------------------------

    @property
    def task_group(self) -> anyio.abc.TaskGroup:
        if self._tg is None:
            raise RuntimeError("the daemon context is not running")
        return self._tg

    async def __aenter__(self) -> Daemon:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            await self._tg.start(self._watch_containers)
            known = {c.id for c in self.engine.list(all=True)}
            self._state.auto_remove = [i for i in self._state.auto_remove if i in known]
            for container in self.engine.list(all=True):
                if self.auto_removes(container.id) and container.state.status == State.EXITED:
                    self._tg.start_soon(self._auto_remove, container.id)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tg is not None:
            tg, self._tg = self._tg, None
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)

    async def _watch_containers(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        flt = EventFilter(filters={"type": ["container"], "event": ["die", "destroy"]})
        async with self.engine.events.subscribe(flt) as events:
            task_status.started()
            async for event in events:
                if event.action == "destroy":
                    self._forget_execs(event.id)
                elif self.auto_removes(event.id):
                    assert self._tg is not None
                    self._tg.start_soon(self._auto_remove, event.id)

    async def _auto_remove(self, container_id: str) -> None:
        try:
            container = self.engine.lookup(container_id)
            if container.state.status != State.EXITED:
                return  # restarted, or started again by someone
            await self.engine.remove(container_id, force=True, volumes=True)
        except NoSuchContainer:
            pass
        except PouchError as exc:
            log.warning("container %s: auto-remove failed: %s", container_id[:12], exc)
        except Exception:
            log.exception("container %s: auto-remove failed", container_id[:12])
        if container_id in self._state.auto_remove:
            self._state.auto_remove.remove(container_id)
            self._save()

    def _forget_execs(self, container_id: str) -> None:
        for exec_id in [i for i, s in self.execs.items() if s.container_id == container_id]:
            del self.execs[exec_id]

    def add_exec(self, session: ExecSession) -> None:
        finished = sorted(
            (s for s in self.execs.values() if s.state == "exited"), key=lambda s: s.finished_at
        )
        for old in finished[: max(0, len(finished) - _MAX_FINISHED_EXECS)]:
            del self.execs[old.id]
        self.execs[session.id] = session
