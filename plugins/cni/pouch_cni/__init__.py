"""pouch-cni: container networking through the CNI plugin binaries.

A CNI *runtime* in the manner of libcni: pouch networks are configuration
lists chaining Debian's containernetworking-plugins (bridge, host-local,
portmap, firewall); attaching a sandbox runs ADD in its pinned network
namespace, detaching runs DEL with the cached result, and the engine's gc at
start undoes whatever a crash left half-done. The plugins themselves do the
work; this package never sets up an interface or a rule on its own.
"""

from __future__ import annotations

from pouch_cni._types import CacheEntry, CNIError, MissingPlugin
from pouch_cni.driver import BridgeDriver

__all__ = ["BridgeDriver", "CNIError", "CacheEntry", "MissingPlugin"]
