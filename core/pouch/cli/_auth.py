"""Registry credentials kept by the client, in ``<config dir>/config.json`` (mode 0600).

The format is docker's: ``{"auths": {"<registry>": {"auth": base64("user:password")}}}``,
so the file reads the same way. Credentials reach pouchd per request, in the
``X-Registry-Auth`` header of pull and push; the daemon does not store them.
"""

from __future__ import annotations

import base64
import json
import os

from pouch.cli._errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DEFAULT_REGISTRY",
    "auth_header",
    "forget",
    "lookup",
    "registry_of",
    "remember",
    "split_reference",
]

DEFAULT_REGISTRY = "docker.io"
_DOCKER_HUB = (
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "https://index.docker.io/v1/",
)


def registry_of(reference: str) -> str:
    """The registry host of an image reference (``docker.io`` when none is named)."""
    first, sep, _ = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DEFAULT_REGISTRY


def normalize_server(server: str | None) -> str:
    server = (server or DEFAULT_REGISTRY).strip()
    for prefix in ("https://", "http://"):
        if server.startswith(prefix):
            server = server[len(prefix) :]
    server = server.rstrip("/")
    if server in _DOCKER_HUB or server.startswith("index.docker.io/"):
        return DEFAULT_REGISTRY
    return server


def split_reference(reference: str) -> tuple[str, str]:
    """``name[:tag][@digest]`` → (name, tag or digest); the tag defaults to ``latest``."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        return name, digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"


def _path(config_dir: str) -> str:
    return os.path.join(config_dir, "config.json")


def _load(config_dir: str) -> dict[str, Any]:
    try:
        with open(_path(config_dir), encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot read {_path(config_dir)}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _save(config_dir: str, data: dict[str, Any]) -> None:
    os.makedirs(config_dir, mode=0o700, exist_ok=True)
    temp = _path(config_dir) + ".tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(temp, _path(config_dir))


def remember(config_dir: str, server: str, username: str, password: str) -> None:
    data = _load(config_dir)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    data.setdefault("auths", {})[normalize_server(server)] = {"auth": token}
    _save(config_dir, data)


def forget(config_dir: str, server: str) -> bool:
    """Drop the credentials of ``server``; False when there were none."""
    data = _load(config_dir)
    if data.get("auths", {}).pop(normalize_server(server), None) is None:
        return False
    _save(config_dir, data)
    return True


def lookup(config_dir: str, server: str) -> tuple[str, str] | None:
    entry = _load(config_dir).get("auths", {}).get(normalize_server(server))
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def auth_header(config_dir: str, reference: str) -> dict[str, str]:
    """The ``X-Registry-Auth`` header for ``reference`` (``{}`` encoded when not logged in)."""
    server = registry_of(reference)
    found = lookup(config_dir, server)
    payload: dict[str, str] = {}
    if found:
        payload = {"username": found[0], "password": found[1], "serveraddress": server}
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    return {"X-Registry-Auth": encoded}
