"""pouch-p2p: image blobs from peer nodes before the registry.

Each pouchd can serve the blobs of its content store, read-only, to its peers
as an OCI distribution endpoint (``_server``), and asks its peers for each blob
of a pull before the mirrors and the registry (``_peers``, through the core's
``pouch_blob_peers`` hook). Settings live under ``[plugin.p2p]`` (``_settings``).

``PeerServer`` is imported lazily: it brings ``http.server`` along, and a
node that does not serve its peers (no ``listen``) never starts one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pouch_p2p._peers import PeerSource, find_peers
from pouch_p2p._settings import P2PSettings, parse_settings

if TYPE_CHECKING:
    from pouch_p2p._server import PeerServer

__all__ = ["P2PSettings", "PeerServer", "PeerSource", "find_peers", "parse_settings"]


def __getattr__(name: str) -> Any:
    if name == "PeerServer":
        from pouch_p2p._server import PeerServer

        return PeerServer
    raise AttributeError(name)
