"""``network`` and ``volume`` subcommands."""

from __future__ import annotations

import sys

from pouch.cli._common import for_each
from pouch.cli._errors import UsageError
from pouch.cli._format import emit, make_template
from pouch.cli._http import Client
from pouch.cli._inspect import inspect_each, show_objects
from pouch.cli._parse import parse_filters, parse_kv

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = [
    "network_connect",
    "network_create",
    "network_disconnect",
    "network_inspect",
    "network_ls",
    "network_rm",
    "volume_create",
    "volume_inspect",
    "volume_ls",
    "volume_rm",
    "volume_update",
]

NETWORKS = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
VOLUMES = "table {{.Driver}}\t{{.Name}}"
HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}
VOLUME_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER"}


def _labels(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def network_ls(args: argparse.Namespace, client: Client) -> int:
    networks = client.get("/networks", {"filters": parse_filters(args.filter)}) or []
    if args.quiet:
        for net in networks:
            sys.stdout.write(str(net.get("Id", ""))[:12] + "\n")
        return 0
    rows = [
        {
            "ID": str(net.get("Id", ""))[:12],
            "Name": net.get("Name", ""),
            "Driver": net.get("Driver", ""),
            "Scope": net.get("Scope", "local"),
            "Internal": str(bool(net.get("Internal"))).lower(),
            "Labels": _labels(net.get("Labels")),
        }
        for net in networks
    ]
    emit(make_template(args.format, NETWORKS), rows, HEADERS)
    return 0


def network_create(args: argparse.Namespace, client: Client) -> int:
    if len(args.gateway) > len(args.subnet) or len(args.ip_range) > len(args.subnet):
        raise UsageError("--gateway and --ip-range each need a --subnet")
    pools: list[dict[str, str]] = []
    for index, subnet in enumerate(args.subnet):
        pool = {"Subnet": subnet}
        if index < len(args.gateway):
            pool["Gateway"] = args.gateway[index]
        if index < len(args.ip_range):
            pool["IPRange"] = args.ip_range[index]
        pools.append(pool)
    body: dict[str, Any] = {
        "Name": args.name,
        "Driver": args.driver,
        "CheckDuplicate": True,
        "Internal": args.internal,
        "EnableIPv6": args.ipv6,
        "Options": parse_kv(args.opt, "--opt"),
        "Labels": parse_kv(args.label, "--label", need_value=False),
    }
    if pools:
        body["IPAM"] = {"Driver": "default", "Config": pools}
    answer = client.post("/networks/create", json_body=body) or {}
    if answer.get("Warning"):
        sys.stderr.write(f"WARNING: {answer['Warning']}\n")
    sys.stdout.write(f"{answer.get('Id', '')}\n")
    return 0


def network_rm(args: argparse.Namespace, client: Client) -> int:
    return for_each(args.names, lambda n: client.request("DELETE", f"/networks/{n}").read())


def network_inspect(args: argparse.Namespace, client: Client) -> int:
    found, ok = inspect_each(client, args.names, ["network"])
    show_objects(found, args.format)
    return 0 if ok else 1


def network_connect(args: argparse.Namespace, client: Client) -> int:
    from pouch.cli._create import endpoint_body

    endpoint = endpoint_body(args.ip, args.ip6, args.alias)
    body = {"Container": args.container, "EndpointConfig": endpoint}
    client.request("POST", f"/networks/{args.network}/connect", json_body=body).read()
    return 0


def network_disconnect(args: argparse.Namespace, client: Client) -> int:
    body = {"Container": args.container, "Force": args.force}
    client.request("POST", f"/networks/{args.network}/disconnect", json_body=body).read()
    return 0


def volume_ls(args: argparse.Namespace, client: Client) -> int:
    answer = client.get("/volumes", {"filters": parse_filters(args.filter)}) or {}
    volumes = answer.get("Volumes") or []
    for warning in answer.get("Warnings") or []:
        sys.stderr.write(f"WARNING: {warning}\n")
    if args.quiet:
        for volume in volumes:
            sys.stdout.write(f"{volume.get('Name', '')}\n")
        return 0
    rows = [
        {
            "Name": v.get("Name", ""),
            "Driver": v.get("Driver", ""),
            "Mountpoint": v.get("Mountpoint", ""),
            "Scope": v.get("Scope", "local"),
            "Labels": _labels(v.get("Labels")),
        }
        for v in volumes
    ]
    emit(make_template(args.format, VOLUMES), rows, VOLUME_HEADERS)
    return 0


def volume_create(args: argparse.Namespace, client: Client) -> int:
    body = {
        "Name": args.name or "",
        "Driver": args.driver,
        "DriverOpts": parse_kv(args.opt, "--opt"),
        "Labels": parse_kv(args.label, "--label", need_value=False),
    }
    answer = client.post("/volumes/create", json_body=body) or {}
    sys.stdout.write(f"{answer.get('Name', args.name or '')}\n")
    return 0


def volume_update(args: argparse.Namespace, client: Client) -> int:
    body = {"Options": parse_kv(args.opt, "--opt")}
    client.request("PUT", f"/volumes/{args.name}", json_body=body).read()
    sys.stdout.write(f"{args.name}\n")
    return 0


def volume_rm(args: argparse.Namespace, client: Client) -> int:
    query = {"force": args.force or None}
    return for_each(
        args.names, lambda n: client.request("DELETE", f"/volumes/{n}", query=query).read()
    )


def volume_inspect(args: argparse.Namespace, client: Client) -> int:
    found, ok = inspect_each(client, args.names, ["volume"])
    show_objects(found, args.format)
    return 0 if ok else 1
