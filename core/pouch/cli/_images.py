"""Local images: ``images``, ``rmi``, ``tag``, ``load``, ``save`` and ``import``."""

from __future__ import annotations

import contextlib
import os
import sys
import time

from pouch.cli._auth import split_reference
from pouch.cli._common import for_each
from pouch.cli._errors import CLIError, UsageError
from pouch.cli._format import emit, go_time, human_duration, human_size, make_template
from pouch.cli._http import Client
from pouch.cli._parse import parse_filters
from pouch.cli._progress import ProgressView

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import IO, Any

__all__ = ["image_rows", "images", "import_", "load", "rmi", "save", "tag"]

DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
HEADERS = {"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT"}


def _short(image_id: str, trunc: bool) -> str:
    return image_id.removeprefix("sha256:")[:12] if trunc else image_id


def image_rows(image: dict[str, Any], *, trunc: bool = True) -> list[dict[str, Any]]:
    """One ``GET /images/json`` entry → a row per tag (one ``<none>`` row when untagged)."""
    created = float(image.get("Created") or 0)
    digests: dict[str, str] = {}
    for item in image.get("RepoDigests") or []:
        repo, _, digest = str(item).partition("@")
        digests[repo] = digest
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    pairs = (
        [split_reference(t) for t in tags]
        or [(repo, "<none>") for repo in digests]
        or [("<none>", "<none>")]
    )
    base = {
        "ID": _short(str(image.get("Id", "")), trunc),
        "CreatedSince": human_duration(time.time() - created) + " ago" if created else "",
        "CreatedAt": go_time(created) if created else "",
        "Size": human_size(float(image.get("Size") or 0)),
        "Containers": str(image.get("Containers", "N/A")),
    }
    return [
        {"Repository": repo, "Tag": tag, "Digest": digests.get(repo, "<none>"), **base}
        for repo, tag in pairs
    ]


def images(args: argparse.Namespace, client: Client) -> int:
    filters = list(args.filter) + ([f"reference={args.repository}"] if args.repository else [])
    query = {
        "all": args.all or None,
        "digests": args.digests or None,
        "filters": parse_filters(filters),
    }
    listed = client.get("/images/json", query) or []
    if args.quiet:
        seen: list[str] = []
        for image in listed:
            short = _short(str(image.get("Id", "")), not args.no_trunc)
            if short not in seen:
                seen.append(short)
                sys.stdout.write(short + "\n")
        return 0
    template = make_template(args.format, DIGESTS if args.digests else DEFAULT)
    rows = [row for image in listed for row in image_rows(image, trunc=not args.no_trunc)]
    emit(template, rows, HEADERS)
    return 0


def rmi(args: argparse.Namespace, client: Client) -> int:
    query = {"force": args.force or None, "noprune": args.no_prune or None}

    def one(name: str) -> None:
        for item in client.delete(f"/images/{name}", query) or []:
            for key in ("Untagged", "Deleted"):
                if item.get(key):
                    sys.stdout.write(f"{key}: {item[key]}\n")

    return for_each(args.images, one, echo=False)


def tag(args: argparse.Namespace, client: Client) -> int:
    repo, tag_ = split_reference(args.target)
    if tag_.startswith("sha256:"):
        raise UsageError(f"invalid target {args.target!r}: tag with a name, not a digest")
    query = {"repo": repo, "tag": tag_}
    client.request("POST", f"/images/{args.source}/tag", query=query).read()
    return 0


def _input(path: str | None, what: str) -> tuple[IO[bytes], dict[str, str]]:
    if path and path != "-":
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise CLIError(f"cannot read {path}: {exc.strerror}") from exc
        return f, {"Content-Length": str(os.fstat(f.fileno()).st_size)}
    if sys.stdin.isatty():
        raise UsageError(f"requested {what} from stdin, but stdin is a terminal (use -i or a pipe)")
    return sys.stdin.buffer, {}


def load(args: argparse.Namespace, client: Client) -> int:
    source, headers = _input(args.input, "load")
    with source:
        response = client.request(
            "POST",
            "/images/load",
            query={"quiet": args.quiet or None},
            body=source,
            headers={"Content-Type": "application/x-tar", **headers},
        )
        ProgressView(sys.stdout, tty=sys.stdout.isatty() and not args.quiet).show_all(
            response.messages()
        )
    return 0


def save(args: argparse.Namespace, client: Client) -> int:
    if not args.output and sys.stdout.isatty():
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    response = client.request("GET", "/images/get", query={"names": list(args.images)})
    if not args.output:
        out = sys.stdout.buffer
        for chunk in response.chunks():
            out.write(chunk)
        out.flush()
        return 0
    try:
        with open(args.output, "wb") as f:
            for chunk in response.chunks():
                f.write(chunk)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(args.output)
        raise
    return 0


def import_(args: argparse.Namespace, client: Client) -> int:
    url = "://" in args.source
    repo, tag_ = split_reference(args.repository) if args.repository else (None, None)
    query = {
        "fromSrc": args.source if url else "-",
        "repo": repo,
        "tag": tag_,
        "message": args.message,
        "changes": list(args.change) or None,
        "platform": args.platform,
    }
    source, headers = (None, {}) if url else _input(args.source, "import")
    with source or contextlib.nullcontext():
        response = client.request(
            "POST", "/images/create", query=query, body=source, headers=headers
        )
        last: dict[str, Any] = {}
        for message in response.messages():
            if isinstance(message, dict):
                if message.get("error"):
                    raise CLIError(str(message["error"]))
                last = message
    status = str(last.get("status") or last.get("stream") or "").strip()
    if status:
        sys.stdout.write(status + "\n")
    return 0
