"""``pouch build``: the context sent as a tar to ``POST /build``, the builder's lines shown.

As the docker CLI does, a Dockerfile given with ``-f`` outside the context
(or ``-f -``, read from stdin) travels inside the context tar under a name
of its own.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from pouch.cli._common import confirm
from pouch.cli._errors import CLIError, UsageError
from pouch.cli._http import Client
from pouch.cli._parse import parse_kv

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

__all__ = ["build", "builder_prune"]


def _dockerfile(args: argparse.Namespace, context: Path) -> tuple[str, bytes | None]:
    """The Dockerfile's name in the context, and its text when it must be added."""
    if not args.file:
        return "Dockerfile", None
    if args.file == "-":
        return f".dockerfile.{secrets.token_hex(10)}", sys.stdin.buffer.read()
    path = Path(args.file).absolute()
    try:
        return path.relative_to(context.absolute()).as_posix(), None
    except ValueError:
        try:
            return f".dockerfile.{secrets.token_hex(10)}", path.read_bytes()
        except OSError as exc:
            raise CLIError(f"cannot read the Dockerfile {args.file}: {exc.strerror}") from None


def _build_args(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE``, or ``NAME`` for the variable of this environment (left out if unset)."""
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if sep:
            result[name] = value
        elif name in os.environ:
            result[name] = os.environ[name]
    return result


def _context_tar(context: Path, extra: tuple[str, bytes] | None) -> IO[bytes]:
    out = tempfile.TemporaryFile(prefix="pouch-build-", suffix=".tar")  # noqa: SIM115
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path in sorted(context.iterdir()):
            tar.add(path, arcname=path.name)
        if extra is not None:
            name, data = extra
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def build(args: argparse.Namespace, client: Client) -> int:
    context = Path(args.context)
    if not context.is_dir():
        raise UsageError(f"the build context {args.context} is not a directory")
    name, text = _dockerfile(args, context)
    query: dict[str, object] = {
        "t": list(args.tag) or None,
        "dockerfile": name,
        "buildargs": json.dumps(_build_args(args.build_arg)) if args.build_arg else None,
        "labels": json.dumps(parse_kv(args.label, "--label", need_value=False))
        if args.label
        else None,
        "target": args.target or None,
        "nocache": args.no_cache or None,
        "pull": args.pull or None,
        "q": args.quiet or None,
        "networkmode": args.network or None,
        "platform": args.platform or None,
    }
    with _context_tar(context, (name, text) if text is not None else None) as body:
        response = client.request(
            "POST",
            "/build",
            query={k: v for k, v in query.items() if v is not None},  # type: ignore[misc]
            body=body,
            headers={"Content-Type": "application/x-tar"},
        )
        image_id = ""
        for message in response.messages():
            if not isinstance(message, dict):
                continue
            if message.get("error"):
                raise CLIError(str(message["error"]))
            if isinstance(message.get("aux"), dict):
                image_id = str(message["aux"].get("ID", ""))
            stream = message.get("stream")
            if isinstance(stream, str):
                sys.stdout.write(stream)
                sys.stdout.flush()
    if args.iidfile and image_id:
        Path(args.iidfile).write_text(image_id)
    return 0


def builder_prune(args: argparse.Namespace, client: Client) -> int:
    if not confirm("WARNING! This will remove all build cache.", args.force):
        return 0
    answer = client.request("POST", "/build/prune").json()
    for image in answer.get("CachesDeleted") or []:
        sys.stdout.write(f"Deleted: {image}\n")
    sys.stdout.write(f"Total reclaimed space: {len(answer.get('CachesDeleted') or [])} images\n")
    return 0
