"""Names on user-defined networks: each member's /etc/hosts lists its peers.

The engine writes a sandbox's hosts file at start and bind-mounts it into the
container, so the file must be changed *in place* (same inode; a rename would
not show through the bind mount). Lines this module owns end in a marker
comment naming the network, so a peer's lines can be replaced or removed
without touching anything else in the file.
"""

from __future__ import annotations

import logging
import os

from pouch_cni._types import CacheEntry

__all__ = ["marker", "peer_lines", "rewrite_network_lines"]

log = logging.getLogger(__name__)

_MARK = "# pouch-cni:"


def marker(network: str) -> str:
    return f"{_MARK}{network}"


def _addresses(entry: CacheEntry) -> list[str]:
    result = entry.decoded_result()
    if result is None:
        return []
    found = result.sandbox_interface(entry.ifName)
    addresses = []
    for ip in result.ips:
        if found is None or ip.interface in (None, found[0]):
            addresses.append(ip.address.split("/")[0])
    return addresses


def peer_lines(network: str, members: list[CacheEntry], exclude: str) -> list[str]:
    """The hosts lines naming every member of ``network`` but sandbox ``exclude``."""
    lines = []
    for member in members:
        if member.containerId == exclude or not member.sandboxName:
            continue
        for address in _addresses(member):
            names = " ".join([member.sandboxName, *member.aliases])
            lines.append(f"{address}\t{names}\t{marker(network)}")
    return lines


def rewrite_network_lines(path: str, network: str, lines: list[str]) -> None:
    """Make ``lines`` the only lines of ``network`` in the hosts file at ``path``.

    A missing file is left alone (the sandbox is not running, or the engine
    writes it with the peers it is given).
    """
    if not path:
        return
    tag = marker(network)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("cannot update %s: %s", path, exc)
        return
    with os.fdopen(fd, "r+") as handle:
        current = handle.read().splitlines()
        kept = [line for line in current if not line.endswith(tag)]
        wanted = kept + lines
        if wanted == current:
            return
        handle.seek(0)
        handle.write("".join(f"{line}\n" for line in wanted))
        handle.truncate()
