"""Where pouchd listens: the unix socket, and TCP only with mutual TLS.

Owns the socket's safety: mode 0660, owner root, the group given with ``-G``
(``pouch`` by default, where that group exists; members may drive the
daemon, which is root-equivalent), a stale socket file removed, and a
refusal to start when another daemon answers on it. A
``tcp://`` address without client-certificate verification is refused: an
unauthenticated TCP endpoint would hand root to anyone who can reach it.
"""

from __future__ import annotations

import grp
import os
import socket
import ssl
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
from anyio.streams.tls import TLSListener

__all__ = ["SOCKET_GROUP", "ListenError", "TLSFiles", "group_id", "open_listener", "unix_path"]

SOCKET_GROUP = "pouch"


class ListenError(Exception):
    """pouchd cannot listen where it was asked to; the message says why."""


class TLSFiles:
    def __init__(self, *, verify: bool, ca: str, cert: str, key: str) -> None:
        self.verify = verify
        self.ca = ca
        self.cert = cert
        self.key = key


def unix_path(address: str) -> Path | None:
    """The socket path of a ``unix://`` address, None for other schemes."""
    if address.startswith("unix://"):
        return Path(address[len("unix://") :])
    if address.startswith("/"):
        return Path(address)
    return None


def group_id(group: str) -> int | None:
    """The gid of ``group``, a name or a number; None for "" or a name no group has."""
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    return int(group) if group.isdecimal() else None


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


async def _unix(path: Path, gid: int | None) -> anyio.abc.Listener[Any]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if not stat.S_ISSOCK(mode):
            raise ListenError(
                f"{path} exists and is not a socket; remove it or choose another path"
            )
        if await anyio.to_thread.run_sync(_answers, path):
            raise ListenError(f"another daemon is already serving {path}")
        path.unlink()  # left by a daemon that did not exit cleanly
    listener = await anyio.create_unix_listener(path, mode=0o660)
    # Without a group the socket is root's alone: root:root, not the group of
    # whoever started pouchd.
    keep = 0 if os.geteuid() == 0 else -1
    try:
        os.chown(path, keep, keep if gid is None else gid)
    except OSError as exc:
        await listener.aclose()
        path.unlink(missing_ok=True)
        raise ListenError(f"cannot give {path} to group {gid}: {exc.strerror}") from None
    return listener


def _tls_context(tls: TLSFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls.ca)
    context.load_cert_chain(tls.cert, tls.key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def open_listener(
    address: str, *, tls: TLSFiles | None = None, socket_gid: int | None = None
) -> anyio.abc.Listener[Any]:
    """A listener for ``unix:///path`` or ``tcp://host:port`` (the latter only with ``tls``).

    A unix socket gets mode 0660, owner root and group ``socket_gid`` (root's
    group when None).
    """
    path = unix_path(address)
    if path is not None:
        return await _unix(path, socket_gid)
    parts = urlsplit(address)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        raise ListenError(f"cannot listen on {address!r}: use unix:///path or tcp://host:port")
    if tls is None or not tls.verify or not (tls.ca and tls.cert and tls.key):
        raise ListenError(
            f"refusing to listen on {address} without TLS client verification: the API is "
            "root-equivalent; add --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY"
        )
    try:
        context = _tls_context(tls)
    except (OSError, ssl.SSLError) as exc:
        raise ListenError(f"cannot load the TLS files for {address}: {exc}") from None
    tcp = await anyio.create_tcp_listener(local_host=parts.hostname, local_port=parts.port)
    return TLSListener(tcp, context, standard_compatible=False)
