"""Stored registry credentials: docker's ``config.json`` ``auths`` format.

Owns reading, writing and removing ``{"auths": {"HOST": {"auth": base64(user:pw)}}}``
in ``RegistrySettings.auth_file``: the file is written 0600 (its directory,
when created here, 0700) through a temporary file and a rename, and keys it
does not know (``credsStore``, other tools' sections) are kept. Docker Hub is
stored under ``https://index.docker.io/v1/`` as docker does. It must not
verify credentials against a registry: that is ``Registries.login``'s job.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from pouch.errors import InvalidArgument

__all__ = ["DOCKER_HUB_KEY", "CredentialStore", "registry_key"]

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)


def registry_key(registry: str) -> str:
    """``https://Host:5000/v2/`` → ``host:5000``; every Docker Hub alias → ``docker.io``."""
    text = registry.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
    host = text.split("/", 1)[0].lower()
    if not host:
        raise InvalidArgument(f"registry {registry!r} has no host name", field="registry")
    return "docker.io" if host in _HUB_ALIASES else host


def _decode_entry(entry: Any) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, colon, password = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if colon else None
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return name, secret
    return None


class CredentialStore:
    """The credentials file at ``path``; thread-safe, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._data: dict[str, Any] = {}

    def _load(self) -> dict[str, Any]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._data = None, {}
            return self._data
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text() or "{}")
            except (OSError, ValueError) as exc:
                raise InvalidArgument(
                    f"credentials file {self.path} is unreadable: {exc}"
                ) from None
            self._data = data if isinstance(data, dict) else {}
            self._stamp = stamp
        return self._data

    def _auths(self, data: dict[str, Any]) -> dict[str, Any]:
        auths = data.get("auths")
        return auths if isinstance(auths, dict) else {}

    def get(self, registry: str) -> tuple[str, str] | None:
        """``(username, password)`` stored for ``registry``, or None."""
        key = registry_key(registry)
        with self._lock:
            for stored, entry in self._auths(self._load()).items():
                if registry_key(stored) == key:
                    found = _decode_entry(entry)
                    if found is not None:
                        return found
        return None

    def save(self, registry: str, username: str, password: str) -> None:
        """Store (or replace) the credentials for ``registry``."""
        key = registry_key(registry)
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        with self._lock:
            data = dict(self._load())
            auths = {k: v for k, v in self._auths(data).items() if registry_key(k) != key}
            auths[DOCKER_HUB_KEY if key == "docker.io" else key] = {"auth": token}
            data["auths"] = auths
            self._write(data)

    def remove(self, registry: str) -> bool:
        """Forget ``registry``'s credentials; False when there were none."""
        key = registry_key(registry)
        with self._lock:
            data = dict(self._load())
            auths = self._auths(data)
            kept = {k: v for k, v in auths.items() if registry_key(k) != key}
            if len(kept) == len(auths):
                return False
            data["auths"] = kept
            self._write(data)
            return True

    def _write(self, data: dict[str, Any]) -> None:
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o700)
            os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask
        temp = directory / f".{self.path.name}.{secrets.token_hex(6)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, indent="\t")
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o600)
            os.rename(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self._stamp = None  # re-read on next use
