"""What every handler shares: the engine, exec sessions, and the daemon's own state.

``Daemon`` is an async context manager owning a task group for the work that
outlives one request: waits, image transfers, detached execs, and forgetting
exec sessions of removed containers. Its state file
(``<root>/daemon/state.json``) keeps only the daemon's ID (``/info``'s
``ID``); containers, networks and ``AutoRemove`` are the engine's. Entries an
older pouchd wrote there (self-removing containers, network records) are
ignored. It must not change containers except through ``Engine``'s public
operations.
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

from pouch.events import EventFilter
from pouch.models import ExecConfig

if TYPE_CHECKING:
    from pouch.drivers import ExecProcess
    from pouch.engine import Engine

__all__ = ["Daemon", "ExecSession"]

log = logging.getLogger("pouch.daemon")

_MAX_FINISHED_EXECS = 256


class _State(msgspec.Struct, kw_only=True):
    # Unknown fields (an older pouchd's "auto_remove" and "networks") are ignored.
    id: str = ""


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
        # A terminal size asked for before the process existed, applied once it does.
        self.size: tuple[int, int] | None = None

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
            await self._tg.start(self._forget_removed)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tg is not None:
            tg, self._tg = self._tg, None
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)

    async def _forget_removed(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        flt = EventFilter(filters={"type": ["container"], "event": ["destroy"]})
        async with self.engine.events.subscribe(flt) as events:
            task_status.started()
            async for event in events:
                self._forget_execs(event.id)

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
