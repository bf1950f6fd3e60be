"""``version``, ``info``, ``events``, ``plugin ls`` and ``system prune``."""

from __future__ import annotations

import os
import sys
import time

from pouch.cli._common import confirm
from pouch.cli._errors import CLIError, UsageError
from pouch.cli._format import emit, human_size, make_template
from pouch.cli._http import API_VERSION, Client
from pouch.cli._info import info_lines, plugins_of
from pouch.cli._parse import parse_filters
from pouch.cli._parse_time import parse_timestamp
from pouch.cli._prune import ALL_IMAGES, image_lines, prune_filters, write_deleted
from pouch.cli._template import Template
from pouch.cli.main import VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["events", "info", "plugin_ls", "system_prune", "version"]


def _client_info(client: Client) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "PythonVersion": "{}.{}.{}".format(*sys.version_info[:3]),
        "Os": sys.platform,
        "Arch": os.uname().machine,
        "Host": client.endpoint.url,
    }


def version(args: argparse.Namespace, client: Client) -> int:
    data: dict[str, Any] = {"Client": _client_info(client)}
    error: CLIError | None = None
    try:
        data["Server"] = client.get("/version")
    except CLIError as exc:
        error = exc
    if args.format:
        sys.stdout.write(Template(args.format).render(data) + "\n")
    else:
        c = data["Client"]
        lines = [
            "Client:",
            f" Version:           {c['Version']}",
            f" API version:       {client.version if 'Server' in data else API_VERSION}",
            f" Python version:    {c['PythonVersion']}",
            f" OS/Arch:           {c['Os']}/{c['Arch']}",
        ]
        server = data.get("Server")
        if server:
            lines += [
                "",
                "Server: pouchd",
                f" Version:           {server.get('Version', '')}",
                f" API version:       {server.get('ApiVersion', '')} "
                f"(minimum version {server.get('MinAPIVersion', '')})",
                f" Python version:    {server.get('GoVersion', '')}",
                f" Git commit:        {server.get('GitCommit', '')}",
                f" OS/Arch:           {server.get('Os', '')}/{server.get('Arch', '')}",
                f" Kernel version:    {server.get('KernelVersion', '')}",
            ]
            lines += [
                f" {comp.get('Name', '')}: {comp.get('Version', '')}"
                for comp in server.get("Components") or []
                if comp.get("Name") not in (None, "Engine")
            ]
        sys.stdout.write("\n".join(lines) + "\n")
    if error:
        raise error
    return 0


def info(args: argparse.Namespace, client: Client) -> int:
    data = client.get("/info") or {}
    if args.format:
        sys.stdout.write(Template(args.format).render(data) + "\n")
        return 0
    head = ["Client:", f" Version:    {VERSION}", f" Host:       {client.endpoint.url}", ""]
    sys.stdout.write("\n".join(head + info_lines(data)) + "\n")
    for warning in data.get("Warnings") or []:
        sys.stderr.write(f"WARNING: {warning}\n")
    return 0


def plugin_ls(args: argparse.Namespace, client: Client) -> int:
    plugins = plugins_of(client.get("/info") or {})
    if args.quiet:
        for plugin in plugins:
            sys.stdout.write(f"{plugin['Name']}\n")
        return 0
    template = make_template(args.format, "table {{.Name}}\t{{.State}}\t{{.Details}}")
    emit(template, plugins, {"Name": "NAME", "State": "STATE", "Details": "DETAILS"})
    return 0


def _event_time(event: dict[str, Any]) -> str:
    nanos = int(event.get("timeNano") or int(event.get("time") or 0) * 1_000_000_000)
    seconds, fraction = divmod(nanos, 1_000_000_000)
    local = time.localtime(seconds)
    offset = time.strftime("%z", local)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{fraction:09d}{offset[:3]}:{offset[3:]}"


def _event_line(event: dict[str, Any]) -> str:
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
    kind = event.get("Type") or "container"
    action = event.get("Action") or event.get("status") or ""
    line = f"{_event_time(event)} {kind} {action} {actor.get('ID') or event.get('id', '')}"
    return line + (f" ({shown})" if shown else "")


def events(args: argparse.Namespace, client: Client) -> int:
    template = None
    if args.format:
        template = Template("{{json .}}" if args.format == "json" else args.format)
    query = {
        "since": parse_timestamp(args.since) if args.since else None,
        "until": parse_timestamp(args.until) if args.until else None,
        "filters": parse_filters(args.filter),
    }
    for event in client.request("GET", "/events", query=query).messages():
        if not isinstance(event, dict):
            continue
        line = template.render(event) if template else _event_line(event)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0


def system_prune(args: argparse.Namespace, client: Client) -> int:
    if args.volumes and any(f.partition("=")[0].strip().lower() == "until" for f in args.filter):
        raise UsageError("the until filter is not supported with --volumes")
    parts = ["all stopped containers", "all networks not used by at least one container"]
    if args.volumes:
        parts.append("all anonymous volumes not used by at least one container")
    parts.append(ALL_IMAGES if args.all else "all dangling images")
    question = "WARNING! This will remove:\n" + "".join(f"  - {p}\n" for p in parts)
    if not confirm(question, args.force):
        return 0
    reclaimed = 0
    common = prune_filters(args.filter)
    report = [
        ("/containers/prune", common, "ContainersDeleted", "Deleted Containers"),
        ("/networks/prune", common, "NetworksDeleted", "Deleted Networks"),
    ]
    if args.volumes:
        volumes = prune_filters(args.filter, "all=false")
        report.append(("/volumes/prune", volumes, "VolumesDeleted", "Deleted Volumes"))
    images = prune_filters(args.filter, *(["dangling=false"] if args.all else []))
    report.append(("/images/prune", images, "ImagesDeleted", "Deleted Images"))
    for path, filters, key, title in report:
        answer = client.post(path, {"filters": filters}) or {}
        reclaimed += int(answer.get("SpaceReclaimed") or 0)
        deleted = answer.get(key) or []
        lines = image_lines(deleted) if key == "ImagesDeleted" else [str(d) for d in deleted]
        write_deleted(title, lines)
    sys.stdout.write(f"Total reclaimed space: {human_size(reclaimed)}\n")
    return 0
