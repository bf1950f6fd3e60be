"""Networks as files: one configuration list per network in the conf dir.

Creating a network checks what the CNI plugins cannot check up front — the
binaries are installed, the subnet is well formed, free among pouch's networks
and the host's routes, the bridge name is not another network's — and then
writes ``<conf_dir>/<name>.conflist`` atomically. Removing it deletes the
file, the host-local reservations directory and the bridge once unused.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from pouch.errors import InvalidArgument, PouchError
from pouch_cni._exec import PluginRunner, highest_common_version
from pouch_cni._host import host_routes, remove_bridge
from pouch_cni._netconf import (
    CHAIN,
    IPAM,
    IPNetwork,
    bridge_of,
    build_conflist,
    check_pairs,
    parse_options,
    read_conflists,
    subnets_of,
)
from pouch_cni._settings import CNISettings
from pouch_cni._types import MissingPlugin

__all__ = ["NetworkConfigs"]

PLUGINS = (*CHAIN, IPAM)


class NetworkConfigs:
    def __init__(self, settings: CNISettings, runner: PluginRunner, default_network: str) -> None:
        self.settings = settings
        self.runner = runner
        self.default_network = default_network

    def path(self, name: str) -> Path:
        return self.settings.conf / f"{name}.conflist"

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path(name).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("name") == name else None

    def require_plugins(self) -> None:
        missing = self.runner.missing(list(PLUGINS))
        if missing:
            raise MissingPlugin(", ".join(missing), [str(d) for d in self.runner.directories])

    async def create(self, name: str, options: dict[str, str]) -> dict[str, Any]:
        self.require_plugins()
        default = name == self.default_network
        options = dict(options)
        check_pairs(options)
        others = {n: c for n, (_, c) in read_conflists(self.settings.conf).items() if n != name}
        routes = await host_routes() if self.settings.check_host_routes and not default else []
        if default:
            bridge = self.settings.default_bridge
            if "subnet" not in options:
                options["subnet"] = self.settings.default_subnet
                if self.settings.default_gateway:
                    options.setdefault("gateway", self.settings.default_gateway)
        else:
            bridge = "pouch-" + secrets.token_hex(4)
            if not any(k.partition(".")[0] == "subnet" for k in options):
                options["subnet"] = str(self._free_subnet(others, routes))
        spec = parse_options(name, options, bridge=bridge, default_subnet=options.get("subnet", ""))
        for other, conflist in others.items():
            if bridge_of(conflist) == spec.bridge:
                raise InvalidArgument(
                    f"bridge {spec.bridge} belongs to network {other}", field="bridge"
                )
            for mine in spec.ranges:
                for theirs in subnets_of(conflist):
                    if mine.subnet.version == theirs.version and mine.subnet.overlaps(theirs):
                        raise InvalidArgument(
                            f"{mine.subnet} overlaps network {other} ({theirs})", field="subnet"
                        )
        for mine in spec.ranges:
            for route, device in routes:
                if device == spec.bridge or route.version != mine.subnet.version:
                    continue
                if mine.subnet.overlaps(route):
                    raise InvalidArgument(
                        f"{mine.subnet} overlaps the host's route to {route} on {device}",
                        field="subnet",
                    )
        version = self.settings.cni_version or highest_common_version(
            [await self.runner.versions(p) for p in PLUGINS]
        )
        if not version:
            raise PouchError(f"the CNI plugins {', '.join(PLUGINS)} share no spec version")
        conflist = build_conflist(spec, version, self.settings.data)
        previous = self.get(name)  # left by an engine that lost its record of it
        self.settings.conf.mkdir(parents=True, exist_ok=True, mode=0o755)
        temporary = self.path(name).with_name(f".{name}.conflist.tmp")
        temporary.write_text(json.dumps(conflist, indent=2) + "\n")
        os.replace(temporary, self.path(name))
        if previous is not None and bridge_of(previous) != spec.bridge:
            await remove_bridge(bridge_of(previous))
        return conflist

    def _free_subnet(
        self, others: dict[str, dict[str, Any]], routes: list[tuple[IPNetwork, str]]
    ) -> IPNetwork:
        pool = ipaddress.ip_network(self.settings.subnet_pool)
        taken = [s for c in others.values() for s in subnets_of(c)] + [r for r, _ in routes]
        for candidate in pool.subnets(new_prefix=self.settings.pool_prefix):
            if not any(candidate.version == t.version and candidate.overlaps(t) for t in taken):
                return candidate
        raise InvalidArgument(
            f"no free /{self.settings.pool_prefix} left in the pool {pool}; give --subnet",
            field="subnet",
        )

    async def remove(self, name: str) -> None:
        conflist = self.get(name)
        # The configuration goes last: it names the bridge, so a removal cut
        # short by a crash can be done again.
        if conflist is not None:
            await remove_bridge(bridge_of(conflist))
        shutil.rmtree(self.settings.data / name, ignore_errors=True)
        self.path(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        return list(read_conflists(self.settings.conf))
