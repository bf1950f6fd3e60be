"""Which CSI drivers pouch knows: from pouchd's config and from ``pouch csi add``.

A driver is a name (what ``--opt driver=NAME`` says) and where its services
listen. pouchd's config names drivers under ``[plugin.csi.drivers.NAME]``
(``endpoint``, optional ``node_endpoint``, ``secrets_file``, ``timeout``,
``command``); ``pouch csi add`` writes ``<root>/csi/drivers.json``, which
pouchd reads again whenever it changes. A name in the config cannot be
changed or removed by the CLI. Secrets are read from the driver's file at
each use, so they can be rotated; they never enter pouch's own records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec

from pouch.errors import Conflict, InvalidArgument, NoSuchObject

__all__ = ["Driver", "Registry", "read_secrets"]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class Driver(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    #: the Identity and Controller services (and Node, unless ``node_endpoint``).
    endpoint: str
    node_endpoint: str = ""
    #: a JSON object, or KEY=VALUE lines: the secrets every call that takes them gets.
    secrets_file: str = ""
    #: seconds a call may take before it counts as failed.
    timeout: float = 60.0
    #: a command pouchd runs (and runs again when it exits) to serve the driver.
    command: list[str] = []


def check_name(name: str) -> str:
    if not name or not set(name) <= _NAME_CHARS or len(name) > 63:
        raise InvalidArgument(
            f"invalid CSI driver name {name!r}: use lower-case letters, digits, '-', '_', '.'",
            field="name",
        )
    return name


def check_endpoint(endpoint: str, field: str = "endpoint") -> str:
    if not endpoint.startswith("unix:///"):
        raise InvalidArgument(
            f"{endpoint!r} is not a unix socket: write unix:///path/to/driver.sock", field=field
        )
    return endpoint


def read_secrets(path: str) -> dict[str, str]:
    """The secrets in ``path`` (JSON object or KEY=VALUE lines); {} for no file."""
    if not path:
        return {}
    text = Path(path).read_text()
    if text.lstrip().startswith("{"):
        data: Any = json.loads(text)
        return {str(k): str(v) for k, v in data.items()}
    secrets = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            secrets[key.strip()] = value.strip()
    return secrets


class Registry:
    def __init__(self, configured: dict[str, Any], path: Path) -> None:
        try:
            self.configured = msgspec.convert(configured, dict[str, Driver])
        except msgspec.ValidationError as error:
            raise InvalidArgument(str(error), field="plugin.csi.drivers") from None
        for name, driver in self.configured.items():
            check_name(name)
            check_endpoint(driver.endpoint, f"plugin.csi.drivers.{name}.endpoint")
        self.path = path
        self._cache: tuple[float, dict[str, Driver]] = (-1.0, {})

    def _added(self) -> dict[str, Driver]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._cache[0]:
            decoded = msgspec.json.decode(self.path.read_bytes(), type=dict[str, Driver])
            self._cache = (mtime, decoded)
        return dict(self._cache[1])

    def drivers(self) -> dict[str, Driver]:
        return {**self._added(), **self.configured}

    def get(self, name: str) -> Driver:
        drivers = self.drivers()
        if name not in drivers:
            known = ", ".join(sorted(drivers)) or "none; add one with pouch csi add"
            raise InvalidArgument(
                f"no CSI driver {name!r} (known: {known})", field="options.driver"
            )
        return drivers[name]

    def default(self) -> str:
        """The driver a volume without ``--opt driver`` gets: the only one there is."""
        drivers = self.drivers()
        return next(iter(drivers)) if len(drivers) == 1 else ""

    def add(self, name: str, driver: Driver) -> None:
        check_name(name)
        check_endpoint(driver.endpoint)
        if driver.node_endpoint:
            check_endpoint(driver.node_endpoint, "node_endpoint")
        if name in self.configured:
            raise Conflict(f"CSI driver {name} is set in pouchd's config; change it there")
        added = self._added()
        added[name] = driver
        self._write(added)

    def remove(self, name: str) -> None:
        if name in self.configured:
            raise Conflict(f"CSI driver {name} is set in pouchd's config; remove it there")
        added = self._added()
        if name not in added:
            raise NoSuchObject(f"no CSI driver {name}")
        del added[name]
        self._write(added)

    def _write(self, drivers: dict[str, Driver]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_bytes(msgspec.json.encode(drivers))
        os.replace(temporary, self.path)
        self._cache = (-1.0, {})
