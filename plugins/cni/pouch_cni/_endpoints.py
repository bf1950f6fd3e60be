"""A sandbox's per-network settings as CNI asks for them: fixed addresses, a MAC.

Fixed addresses go to the IPAM plugin in the first plugin's ``args.cni.ips``
(host-local reserves exactly those, and refuses one already taken); a MAC
address is set by the ``tuning`` plugin, appended to the chain for this
attachment only, from ``CNI_ARGS`` ``MAC=``. The changed configuration is
cached with the attachment, so DEL runs the same chain.
"""

from __future__ import annotations

import copy
from typing import Any

from pouch.drivers import Endpoint

__all__ = ["endpoint_args", "endpoint_conflist"]


def endpoint_conflist(
    conflist: dict[str, Any], endpoint: Endpoint, *, ports: bool = True
) -> dict[str, Any]:
    """The network's configuration list with what ``endpoint`` asks for added.

    Without ``ports`` (no port published) the ``portmap`` plugin is left out: it
    would have nothing to add, and its DEL still searches the NAT tables, the
    costliest step of a teardown. DEL uses the same list, so nothing is missed.
    """
    config = copy.deepcopy(conflist)
    if not ports:
        config["plugins"] = [p for p in config.get("plugins", []) if p.get("type") != "portmap"]
    plugins: list[dict[str, Any]] = config.get("plugins", [])
    ips = [a for a in (endpoint.ipv4_address, endpoint.ipv6_address) if a]
    if ips and plugins:
        plugins[0].setdefault("args", {}).setdefault("cni", {})["ips"] = ips
    if endpoint.mac_address and not any(p.get("type") == "tuning" for p in plugins):
        plugins.insert(1, {"type": "tuning"})
    return config


def endpoint_args(endpoint: Endpoint) -> list[tuple[str, str]]:
    """``CNI_ARGS`` for ``endpoint``: plugins ignore what is not theirs."""
    if not endpoint.mac_address:
        return []
    return [("IgnoreUnknown", "1"), ("MAC", endpoint.mac_address)]
