"""One client per registered CSI driver, and what each declared when it was probed.

A driver is probed on first use, before each volume is created or changed,
after a failed call (it may have been replaced by another version), and when
its registration changes.
"""

from __future__ import annotations

import contextlib

from pouch_csi.client import CsiClient, CsiError, Profile
from pouch_csi.registry import Driver, Registry, read_secrets

__all__ = ["Connections"]


class Connections:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._clients: dict[str, tuple[Driver, CsiClient]] = {}
        self._profiles: dict[str, Profile] = {}

    def client(self, name: str) -> CsiClient:
        driver = self.registry.get(name)
        known = self._clients.get(name)
        if known is None or known[0] != driver:
            self._profiles.pop(name, None)
            client = CsiClient(name, driver.endpoint, driver.node_endpoint, timeout=driver.timeout)
            self._clients[name] = (driver, client)
        return self._clients[name][1]

    async def profile(self, name: str, *, fresh: bool = False) -> Profile:
        """What ``name`` declared; ``fresh`` probes again (before a create: rare, and
        the driver may have been replaced by one that offers other services)."""
        client = self.client(name)
        if fresh or name not in self._profiles:
            self._profiles[name] = await client.probe()
        return self._profiles[name]

    def forget(self, name: str) -> None:
        """Probe ``name`` again before its next use (after a failure)."""
        self._profiles.pop(name, None)

    def secrets(self, name: str) -> dict[str, str]:
        path = self.registry.get(name).secrets_file
        try:
            return read_secrets(path)
        except (OSError, ValueError) as error:
            raise CsiError(name, "secrets", f"cannot read {path}: {error}", None) from None

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for _, client in clients:
            with contextlib.suppress(Exception):
                await client.close()
