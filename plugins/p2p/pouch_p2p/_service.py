"""The peer service as an engine service: started with pouchd, stopped with it.

Owns ``PeerService`` (the ``pouch.drivers.Service`` that runs a ``PeerServer``
on the configured address for as long as the engine runs) and the map from an
engine's root to its content store, filled when the engine has started, so
the server answers 404 rather than serving from a store that is not open.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from pouch.errors import PouchError
from pouch.images import ContentStore
from pouch_p2p._settings import P2PSettings
from pouch_p2p._tracker import tracker_client
from pouch_p2p._upstream import Upstream

if TYPE_CHECKING:
    from pouch.engine import Engine
    from pouch_p2p._server import PeerServer

__all__ = ["PeerService", "engine_started", "engine_stopping", "server_of"]

log = logging.getLogger(__name__)

_content: dict[Path, ContentStore] = {}
_servers: dict[Path, PeerServer] = {}


def server_of(root: Path) -> PeerServer | None:
    """The peer server of the engine at ``root``, while it runs."""
    return _servers.get(root)


def engine_started(engine: Engine) -> None:
    _content[engine.config.root] = engine.images.store.content


def engine_stopping(engine: Engine) -> None:
    _content.pop(engine.config.root, None)


class PeerService:
    """Serves the engine's blobs to peers on ``settings.listen``."""

    name = "p2p"

    def __init__(self, root: Path, settings: P2PSettings, upstream: Upstream) -> None:
        assert settings.listen is not None
        self.root = root
        self.tracker = tracker_client(settings)
        self.settings = settings
        self.upstream = upstream
        self.server: PeerServer | None = None

    async def serve(self) -> None:
        assert self.settings.listen is not None
        from pouch_p2p._server import PeerServer  # only a node that serves its peers needs it

        host, port = self.settings.listen
        try:
            self.server = PeerServer(
                lambda: _content.get(self.root),
                (host, port),
                self.settings.token,
                rate=self.settings.rate,
                upstream=self.upstream,
                wait=self.settings.timeout * 0.8,
                tls=self.settings.ssl_context(True),
            )
        except OSError as exc:
            raise PouchError(
                f"p2p: cannot serve peers on {host}:{port} ({exc.strerror}); "
                "plugin.p2p.listen must be an address of this node"
            ) from None
        self.server.start()
        _servers[self.root] = self.server
        try:
            if self.settings.tracker is None:
                await anyio.sleep_forever()
            await self._announce_forever(
                f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
            )
        finally:
            _servers.pop(self.root, None)
            await anyio.to_thread.run_sync(self.server.stop)

    async def _announce_forever(self, address: str) -> None:
        """Tell the tracker what this node holds, every ``announce`` seconds."""
        assert self.tracker is not None
        every = self.settings.announce
        while True:
            content = _content.get(self.root)
            if content is not None:
                digests = await anyio.to_thread.run_sync(content.list)
                await anyio.to_thread.run_sync(self.tracker.announce, address, digests, 3 * every)
            await anyio.sleep(every)
