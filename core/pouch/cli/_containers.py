"""Container lifecycle and listing: stop, restart, kill, rm, pause, unpause, rename,
update, wait, top and ps."""

from __future__ import annotations

import sys
import time

from pouch.cli._common import for_each
from pouch.cli._errors import CLIError
from pouch.cli._format import emit, go_time, human_duration, make_template, tabulate
from pouch.cli._http import Client
from pouch.cli._parse import parse_cpus, parse_filters, parse_memory_swap, parse_restart, parse_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = [
    "kill",
    "pause",
    "ps",
    "ps_row",
    "rename",
    "restart",
    "rm",
    "stop",
    "top",
    "unpause",
    "update",
    "wait",
]

PS_DEFAULT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "RunningFor": "CREATED",
    "CreatedAt": "CREATED AT",
    "Names": "NAMES",
    "LocalVolumes": "LOCAL VOLUMES",
}


def _post(client: Client, path: str, query: dict[str, Any] | None = None) -> None:
    client.request("POST", path, query=query).read()


def stop(args: argparse.Namespace, client: Client) -> int:
    query = {"t": args.time, "signal": args.signal}
    return for_each(args.containers, lambda c: _post(client, f"/containers/{c}/stop", query))


def restart(args: argparse.Namespace, client: Client) -> int:
    query = {"t": args.time}
    return for_each(args.containers, lambda c: _post(client, f"/containers/{c}/restart", query))


def kill(args: argparse.Namespace, client: Client) -> int:
    query = {"signal": args.signal}
    return for_each(args.containers, lambda c: _post(client, f"/containers/{c}/kill", query))


def rm(args: argparse.Namespace, client: Client) -> int:
    query = {"force": args.force or None, "v": args.volumes or None}
    return for_each(
        args.containers,
        lambda c: client.request("DELETE", f"/containers/{c}", query=query).read(),
    )


def pause(args: argparse.Namespace, client: Client) -> int:
    return for_each(args.containers, lambda c: _post(client, f"/containers/{c}/pause"))


def unpause(args: argparse.Namespace, client: Client) -> int:
    return for_each(args.containers, lambda c: _post(client, f"/containers/{c}/unpause"))


def rename(args: argparse.Namespace, client: Client) -> int:
    _post(client, f"/containers/{args.container}/rename", {"name": args.new_name})
    return 0


def update(args: argparse.Namespace, client: Client) -> int:
    body: dict[str, Any] = {
        "Memory": parse_size(args.memory) if args.memory else None,
        "MemorySwap": parse_memory_swap(args.memory_swap) if args.memory_swap else None,
        "NanoCpus": parse_cpus(args.cpus) if args.cpus else None,
        "CpuShares": args.cpu_shares,
        "CpusetCpus": args.cpuset_cpus,
        "PidsLimit": args.pids_limit,
        "RestartPolicy": parse_restart(args.restart) if args.restart else None,
    }
    body = {key: value for key, value in body.items() if value is not None}
    if not body:
        raise CLIError("nothing to update: give at least one flag (see 'pouch update --help')")

    def one(name: str) -> None:
        answer = client.post(f"/containers/{name}/update", json_body=body) or {}
        for warning in answer.get("Warnings") or []:
            sys.stderr.write(f"WARNING: {warning}\n")

    return for_each(args.containers, one)


def wait(args: argparse.Namespace, client: Client) -> int:
    def one(name: str) -> None:
        answer = client.post(f"/containers/{name}/wait") or {}
        sys.stdout.write(f"{answer.get('StatusCode', 0)}\n")

    return for_each(args.containers, one, echo=False)


def top(args: argparse.Namespace, client: Client) -> int:
    query = {"ps_args": " ".join(args.ps_args) or None}
    answer = client.get(f"/containers/{args.container}/top", query) or {}
    lines = ["\t".join(answer.get("Titles") or [])]
    lines += ["\t".join(str(v) for v in row) for row in answer.get("Processes") or []]
    for line in tabulate(lines, minwidth=1, padding=3):
        sys.stdout.write(line + "\n")
    return 0


def _ports(ports: list[dict[str, Any]]) -> str:
    shown = []
    for port in sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""))):
        private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
        if port.get("PublicPort"):
            ip = port.get("IP") or "0.0.0.0"
            host = f"[{ip}]" if ":" in ip and ip != "::" else ip
            shown.append(f"{host}:{port['PublicPort']}->{private}")
        else:
            shown.append(private)
    return ", ".join(shown)


def _command(container: dict[str, Any], trunc: bool) -> str:
    command = str(container.get("Command") or "")
    if trunc and len(command) > 20:
        command = command[:19] + "…"
    return f'"{command}"'


def ps_row(
    container: dict[str, Any], *, trunc: bool = True, now: float | None = None
) -> dict[str, Any]:
    """One ``GET /containers/json`` entry as the strings ``ps`` shows (and ``--format`` reads)."""
    created = float(container.get("Created") or 0)
    labels: dict[str, str] = container.get("Labels") or {}
    names = [n.lstrip("/") for n in container.get("Names") or []]
    cid = str(container.get("Id", ""))
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    mounts = [m.get("Name") or m.get("Source", "") for m in container.get("Mounts") or []]
    return {
        "ID": cid[:12] if trunc else cid,
        "Names": ",".join(names),
        "Image": container.get("Image", ""),
        "Command": _command(container, trunc),
        "CreatedAt": go_time(created) if created else "",
        "RunningFor": human_duration((now or time.time()) - created) + " ago" if created else "",
        "Status": container.get("Status", ""),
        "State": container.get("State", ""),
        "Ports": _ports(container.get("Ports") or []),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Label": lambda key: labels.get(str(key), ""),
        "Mounts": ",".join(mounts),
        "Networks": ",".join(sorted(networks)),
        "Size": container.get("SizeRw", ""),
    }


def ps(args: argparse.Namespace, client: Client) -> int:
    query = {
        "all": args.all or args.latest or bool(args.last) or None,
        "limit": 1 if args.latest else args.last,
        "filters": parse_filters(args.filter),
    }
    containers = client.get("/containers/json", query) or []
    if args.quiet:
        for container in containers:
            cid = str(container.get("Id", ""))
            sys.stdout.write((cid if args.no_trunc else cid[:12]) + "\n")
        return 0
    template = make_template(args.format, PS_DEFAULT)
    rows = [ps_row(c, trunc=not args.no_trunc) for c in containers]
    emit(template, rows, PS_HEADERS)
    return 0
