"""The ``[plugin.p2p]`` table, checked: where to serve, who the peers are, the secret.

Owns ``P2PSettings`` and ``parse_settings``, which names the offending key of
anything it refuses (``plugin.p2p.listen``). Serving is never on by default:
without ``listen`` the node only asks its peers. It must not open sockets.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pouch.errors import InvalidArgument

__all__ = ["P2PSettings", "parse_settings", "split_address"]

_TLS = ("tls_cert", "tls_key", "tls_ca")
_KNOWN = (
    "listen",
    "token",
    "peers",
    "dns",
    "tracker",
    "announce",
    "rate",
    "piece",
    "timeout",
    *_TLS,
)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass(frozen=True)
class P2PSettings:
    listen: tuple[str, int] | None = None
    """Serve this node's blobs to peers on this address (off when None)."""
    token: str = ""
    """The shared secret peers send as ``Authorization: Bearer``."""
    peers: tuple[tuple[str, int], ...] = ()
    """Peers by address."""
    dns: tuple[str, int] | None = None
    """A name whose A/AAAA records are peers, all on this port."""
    tracker: tuple[str, int] | None = None
    """A node (its ``listen`` address) that knows which nodes hold which blobs."""
    announce: float = 10.0
    """Seconds between this node's announcements of its blobs to the tracker."""
    rate: int = 0
    """Bytes per second this node serves to all peers together (0: no limit)."""
    piece: int = 4 << 20
    """Bytes per piece when a blob is fetched from several peers at once."""
    timeout: float = 10.0
    """Seconds to wait for a peer to answer or to send more bytes."""
    tls: tuple[Path, Path, Path] | None = None
    """This node's certificate, its key and the CA every node's certificate is
    signed by: peers speak HTTPS and each side must show a certificate of it."""

    def ssl_context(self, server: bool) -> ssl.SSLContext | None:
        """Mutual TLS as ``tls`` says (None without it)."""
        if self.tls is None:
            return None
        cert, key, ca = self.tls
        purpose = ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT
        context = ssl.SSLContext(purpose)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        context.load_verify_locations(cafile=ca)
        # Peers are addressed by IP: the cluster's CA is what is trusted, not names.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        return context


def split_address(text: str, key: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``, with the key named when it is not one."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"{text!r} is not host:port", field=key)
    return host, int(port)


def _bytes(value: object, key: str) -> int:
    text = str(value).strip().lower().removesuffix("b")
    unit = text[-1:] if text[-1:] in _UNITS and not text[-1:].isdigit() else ""
    number = text[: len(text) - len(unit)]
    try:
        rate = int(float(number) * _UNITS[unit])
    except ValueError:
        raise InvalidArgument(
            f"{value!r} is not a number of bytes (50m, 1g, 0)", field=f"plugin.p2p.{key}"
        ) from None
    if rate < 0:
        raise InvalidArgument("cannot be negative", field=f"plugin.p2p.{key}")
    return rate


def _seconds(value: object, key: str) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        raise InvalidArgument("seconds, a number", field=f"plugin.p2p.{key}") from None
    if seconds <= 0:
        raise InvalidArgument("seconds, more than 0", field=f"plugin.p2p.{key}")
    return seconds


def _tls(table: Mapping[str, object]) -> tuple[Path, Path, Path] | None:
    given = [key for key in _TLS if table.get(key)]
    if not given:
        return None
    if len(given) != len(_TLS):
        missing = ", ".join(f"plugin.p2p.{k}" for k in _TLS if k not in given)
        raise InvalidArgument(
            f"mutual TLS needs all of tls_cert, tls_key and tls_ca; missing {missing}",
            field=f"plugin.p2p.{next(k for k in _TLS if k not in given)}",
        )
    paths = tuple(Path(str(table[key])) for key in _TLS)
    for name, path in zip(_TLS, paths, strict=True):
        if not path.is_file():
            raise InvalidArgument(f"{path} is not a file", field=f"plugin.p2p.{name}")
    cert, key, ca = paths
    return cert, key, ca


def parse_settings(table: Mapping[str, object]) -> P2PSettings:
    """The checked settings; ``InvalidArgument`` naming the key otherwise."""
    unknown = sorted(set(table) - set(_KNOWN))
    if unknown:
        raise InvalidArgument(
            f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(_KNOWN)})",
            field="plugin.p2p",
        )
    token = str(table.get("token", ""))
    listen = None
    if table.get("listen"):
        listen = split_address(str(table["listen"]), "plugin.p2p.listen")
        try:
            unspecified = ipaddress.ip_address(listen[0]).is_unspecified
        except ValueError:
            unspecified = False
        if unspecified:
            raise InvalidArgument(
                f"{table['listen']!r} listens on every address; name the one address "
                "peers reach this node on",
                field="plugin.p2p.listen",
            )
        if len(token) < 16:
            raise InvalidArgument(
                "serving blobs to peers needs a shared token of at least 16 characters "
                "(plugin.p2p.token), the same on every node",
                field="plugin.p2p.token",
            )
    raw_peers = table.get("peers", [])
    if not isinstance(raw_peers, list):
        raise InvalidArgument("a list of host:port", field="plugin.p2p.peers")
    peers = tuple(split_address(str(p), "plugin.p2p.peers") for p in raw_peers)
    dns = split_address(str(table["dns"]), "plugin.p2p.dns") if table.get("dns") else None
    tracker = None
    if table.get("tracker"):
        tracker = split_address(str(table["tracker"]), "plugin.p2p.tracker")
        if len(token) < 16:
            raise InvalidArgument(
                "asking a tracker needs the shared token of at least 16 characters "
                "(plugin.p2p.token)",
                field="plugin.p2p.token",
            )
    announce = _seconds(table.get("announce", 10.0), "announce")
    timeout = _seconds(table.get("timeout", 10.0), "timeout")
    tls = _tls(table)
    return P2PSettings(
        listen=listen,
        token=token,
        peers=peers,
        dns=dns,
        tracker=tracker,
        announce=announce,
        rate=_bytes(table.get("rate", 0), "rate"),
        piece=max(64 << 10, _bytes(table.get("piece", 4 << 20), "piece")),
        timeout=timeout,
        tls=tls,
    )
