"""Registration of pouch-p2p: the peers of each pull, and the peer service.

``pouch_blob_peers`` answers every pull with the configured peers (static and
DNS); ``pouch_add_services`` runs the peer service when ``listen`` is set.
Settings are read and checked once per engine root; a bad table fails the
plugin with the key named.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from pouch.markers import hookimpl
from pouch_p2p._peers import PeerSource, find_peers, peer_source
from pouch_p2p._service import PeerService, engine_started, engine_stopping
from pouch_p2p._settings import P2PSettings, parse_settings
from pouch_p2p._swarm import Swarm
from pouch_p2p._tracker import TrackerClient, tracker_client
from pouch_p2p._upstream import Upstream, UpstreamMark

if TYPE_CHECKING:
    from pouch.config import EngineConfig
    from pouch.distribution import Source
    from pouch.drivers import Service
    from pouch.engine import Engine

__all__ = [
    "pouch_add_services",
    "pouch_blob_peers",
    "pouch_engine_started",
    "pouch_engine_stopping",
]

_settings: dict[Path, P2PSettings] = {}
_upstream: dict[Path, Upstream] = {}


def settings_for(config: EngineConfig) -> P2PSettings:
    if config.root not in _settings:
        _settings[config.root] = parse_settings(config.plugin_settings("p2p"))
        _upstream[config.root] = Upstream()
    return _settings[config.root]


@hookimpl
def pouch_blob_peers(config: EngineConfig, registry: str, repository: str) -> list[Source]:
    settings = settings_for(config)
    peers = find_peers(settings)
    client = tracker_client(settings)
    tracker = functools.partial(_tracked, client, settings) if client is not None else None
    if not peers and tracker is None:
        return []
    first: Source = (
        peers[0] if len(peers) == 1 and tracker is None else Swarm(peers, settings.piece, tracker)
    )
    return [first, UpstreamMark(_upstream[config.root])]


def _tracked(client: TrackerClient, settings: P2PSettings, digest: str) -> list[PeerSource]:
    """The nodes the tracker says hold ``digest``, less this one."""
    return [
        peer_source(settings, host, port)
        for host, port in client.holders(digest)
        if (host, port) != settings.listen
    ]


@hookimpl
def pouch_add_services(config: EngineConfig) -> list[Service]:
    settings = settings_for(config)
    if settings.listen is None:
        return []
    return [PeerService(config.root, settings, _upstream[config.root])]


@hookimpl
def pouch_engine_started(engine: Engine) -> None:
    engine_started(engine)


@hookimpl
def pouch_engine_stopping(engine: Engine) -> None:
    engine_stopping(engine)
