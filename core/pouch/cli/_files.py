"""Files in containers and images of them: ``cp``, ``diff``, ``export``, ``commit``,
``history``, and ``system df``."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import tarfile
import time

from pouch.cli._auth import split_reference
from pouch.cli._errors import APIError, CLIError, UsageError
from pouch.cli._format import emit, go_time, human_duration, human_size, make_template, tabulate
from pouch.cli._http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import IO, Any

__all__ = ["commit", "cp", "diff", "export", "history", "system_df"]

HISTORY = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY"}
_KINDS = {0: "C", 1: "A", 2: "D"}


def _split(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` → (container, path); a host path → (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    container, _, path = arg.partition(":")
    return container, path or "/"


def _write_out(chunks: Any, output: str | None, what: str) -> None:
    if not output and sys.stdout.isatty():
        raise CLIError(f"cowardly refusing to write {what} to a terminal. Use -o or redirect")
    out: IO[bytes] = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
    try:
        for chunk in chunks:
            out.write(chunk)
        out.flush()
    finally:
        if output:
            out.close()


def _stat(client: Client, container: str, path: str) -> dict[str, Any] | None:
    try:
        response = client.request("HEAD", f"/containers/{container}/archive", query={"path": path})
    except APIError as exc:
        if exc.http_status == 404:  # no such path (a missing container fails the copy)
            return None
        raise
    header = response.header("X-Docker-Container-Path-Stat")
    found: dict[str, Any] = json.loads(base64.b64decode(header)) if header else {}
    return found


def _copy_out(client: Client, container: str, path: str, dest: str, follow: bool) -> None:
    if follow and not path.endswith("/"):
        found = _stat(client, container, path)
        if found and found.get("linkTarget"):
            path = found["linkTarget"]
    response = client.request("GET", f"/containers/{container}/archive", query={"path": path})
    if dest == "-":
        _write_out(response.chunks(), None, "a tar")
        return
    data = io.BytesIO(b"".join(response.chunks()))
    with tarfile.open(fileobj=data) as tar:
        members = tar.getmembers()
        if os.path.isdir(dest):
            target = dest
        else:
            target = os.path.dirname(os.path.abspath(dest))
            if not os.path.isdir(target):
                raise CLIError(f"destination directory {target} does not exist")
            top = members[0].name.split("/")[0] if members else ""
            new = os.path.basename(dest.rstrip("/"))
            for member in members:
                head, sep, rest = member.name.partition("/")
                if head == top:
                    member.name = new + sep + rest
        tar.extractall(target, members=members, filter="tar")


def _copy_in(client: Client, source: str, container: str, path: str, owner: bool) -> None:
    query = {"path": path, "copyUIDGID": "1" if owner else None, "noOverwriteDirNonDir": "1"}
    if source == "-":
        client.request(
            "PUT", f"/containers/{container}/archive", query=query, body=sys.stdin.buffer
        )
        return
    if not os.path.lexists(source):
        raise CLIError(f"no such file or directory: {source}")
    found = _stat(client, container, path)
    name = os.path.basename(os.path.abspath(source))
    if found is None or not found.get("mode", 0) & (1 << 31):
        if path.endswith("/"):
            raise CLIError(f"no such directory in the container: {container}:{path}")
        if os.path.isdir(source) and found is not None:
            raise CLIError(f"cannot copy a directory onto the file {container}:{path}")
        name = os.path.basename(path.rstrip("/"))
        path = os.path.dirname(path.rstrip("/")) or "/"
        query["path"] = path
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(source, arcname=name)
    client.request(
        "PUT",
        f"/containers/{container}/archive",
        query=query,
        body=buffer.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )


def cp(args: argparse.Namespace, client: Client) -> int:
    (src_ctr, src), (dst_ctr, dst) = _split(args.source), _split(args.dest)
    if (src_ctr is None) == (dst_ctr is None):
        raise UsageError("copying needs one side in a container (CONTAINER:PATH)")
    if src_ctr is not None:
        _copy_out(client, src_ctr, src, dst, args.follow_link)
    else:
        assert dst_ctr is not None
        _copy_in(client, src, dst_ctr, dst, args.archive)
    return 0


def diff(args: argparse.Namespace, client: Client) -> int:
    for change in client.get(f"/containers/{args.container}/changes") or []:
        sys.stdout.write(f"{_KINDS.get(change.get('Kind'), '?')} {change.get('Path', '')}\n")
    return 0


def export(args: argparse.Namespace, client: Client) -> int:
    response = client.request("GET", f"/containers/{args.container}/export")
    _write_out(response.chunks(), args.output, "an export")
    return 0


def commit(args: argparse.Namespace, client: Client) -> int:
    repo, tag = split_reference(args.repository) if args.repository else (None, None)
    query = {
        "container": args.container,
        "repo": repo,
        "tag": tag,
        "comment": args.message,
        "author": args.author,
        "pause": args.pause,
        "changes": list(args.change) or None,
    }
    answer = client.post("/commit", query) or {}
    sys.stdout.write(f"{answer.get('Id', '')}\n")
    return 0


def history(args: argparse.Namespace, client: Client) -> int:
    human = args.human == "true"
    rows = []
    for entry in client.get(f"/images/{args.image}/history") or []:
        image_id = str(entry.get("Id", ""))
        if not args.no_trunc and image_id.startswith("sha256:"):
            image_id = image_id.removeprefix("sha256:")[:12]
        if args.quiet:
            sys.stdout.write(f"{image_id}\n")
            continue
        created = float(entry.get("Created") or 0)
        created_by = str(entry.get("CreatedBy", ""))
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        size = int(entry.get("Size") or 0)
        rows.append(
            {
                "ID": image_id,
                "CreatedSince": human_duration(time.time() - created) + " ago"
                if human
                else go_time(created),
                "CreatedAt": go_time(created),
                "CreatedBy": created_by,
                "Size": human_size(size) if human else str(size),
                "Comment": str(entry.get("Comment", "")),
            }
        )
    if not args.quiet:
        emit(make_template(args.format, HISTORY), rows, HISTORY_HEADERS)
    return 0


def _percent(part: int, whole: int) -> str:
    return f"{human_size(part)} ({part * 100 // whole if whole else 0}%)"


def system_df(args: argparse.Namespace, client: Client) -> int:
    usage = client.get("/system/df") or {}
    images = usage.get("Images") or []
    containers = usage.get("Containers") or []
    volumes = usage.get("Volumes") or []
    if args.verbose:
        _df_verbose(images, containers, volumes)
        return 0
    image_size = int(usage.get("LayersSize") or 0)
    unused = [i for i in images if not i.get("Containers")]
    unique = sum(int(i.get("Size") or 0) - int(i.get("SharedSize") or 0) for i in unused)
    rw = sum(int(c.get("SizeRw") or 0) for c in containers)
    running = [c for c in containers if c.get("State") == "running"]
    idle = rw - sum(int(c.get("SizeRw") or 0) for c in running)
    used = [v for v in volumes if (v.get("UsageData") or {}).get("RefCount")]

    def size(volume: dict[str, Any]) -> int:
        return max(int((volume.get("UsageData") or {}).get("Size") or 0), 0)

    total = sum(size(v) for v in volumes)
    rows = [
        ("Images", images, len(images) - len(unused), image_size, unique),
        ("Containers", containers, len(running), rw, idle),
        ("Local Volumes", volumes, len(used), total, total - sum(size(v) for v in used)),
    ]
    lines = ["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE"]
    for name, items, active, whole, free in rows:
        lines.append(
            f"{name}\t{len(items)}\t{active}\t{human_size(whole)}\t{_percent(free, whole)}"
        )
    lines.append("Build Cache\t0\t0\t0B\t0B")
    sys.stdout.write("".join(line + "\n" for line in tabulate(lines)))
    return 0


def _df_verbose(images: list[Any], containers: list[Any], volumes: list[Any]) -> None:
    out = ["Images space usage:", ""]
    rows = ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"]
    for image in images:
        repo, tag = split_reference(str((image.get("RepoTags") or ["<none>:<none>"])[0]))
        size, shared = int(image.get("Size") or 0), int(image.get("SharedSize") or 0)
        created = human_duration(time.time() - float(image.get("Created") or 0)) + " ago"
        rows.append(
            f"{repo}\t{tag}\t{str(image.get('Id', '')).removeprefix('sha256:')[:12]}\t{created}"
            f"\t{human_size(size)}\t{human_size(shared)}\t{human_size(size - shared)}"
            f"\t{image.get('Containers', 0)}"
        )
    out += [*tabulate(rows), "", "Containers space usage:", ""]
    rows = ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES"]
    for c in containers:
        local = sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")
        created = human_duration(time.time() - float(c.get("Created") or 0)) + " ago"
        names = ",".join(n.lstrip("/") for n in c.get("Names") or [])
        rows.append(
            f'{str(c.get("Id", ""))[:12]}\t{c.get("Image", "")}\t"{str(c.get("Command", ""))[:20]}"'
            f"\t{local}\t{human_size(int(c.get('SizeRw') or 0))}\t{created}\t{c.get('Status', '')}"
            f"\t{names}"
        )
    out += [*tabulate(rows), "", "Local Volumes space usage:", ""]
    rows = ["VOLUME NAME\tLINKS\tSIZE"]
    for v in volumes:
        data = v.get("UsageData") or {}
        size = int(data.get("Size") or 0)
        shown = human_size(size) if size >= 0 else "N/A"
        rows.append(f"{v.get('Name', '')}\t{data.get('RefCount', 0)}\t{shown}")
    out += [*tabulate(rows), "", "Build cache usage: 0B", ""]
    sys.stdout.write("".join(line + "\n" for line in out))
