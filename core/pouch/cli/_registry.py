"""``pull``, ``push``, ``login``, ``logout``, and the pull that ``run`` does for a missing image."""

from __future__ import annotations

import getpass
import sys

from pouch.cli._auth import (
    DEFAULT_REGISTRY,
    auth_header,
    forget,
    normalize_server,
    registry_of,
    remember,
    split_reference,
)
from pouch.cli._errors import CLIError, UsageError
from pouch.cli._http import Client
from pouch.cli._progress import ProgressView
from pouch.cli.main import config_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import TextIO

__all__ = ["login", "logout", "pull", "pull_image", "push"]


def pull_image(
    client: Client,
    config: str,
    reference: str,
    *,
    platform: str | None = None,
    quiet: bool = False,
    all_tags: bool = False,
    out: TextIO | None = None,
    sources: bool = False,
) -> None:
    """Pull ``reference`` through pouchd, showing progress on ``out`` unless quiet;
    ``sources``: say where each layer came from (a peer, a mirror, the registry)."""
    out = out or sys.stdout
    name, tag = split_reference(reference)
    if all_tags:
        tag = ""
    elif ":" not in reference.rpartition("/")[2] and "@" not in reference and not quiet:
        out.write(f"Using default tag: {tag}\n")
    response = client.request(
        "POST",
        "/images/create",
        query={"fromImage": name, "tag": tag or None, "platform": platform or None},
        headers=auth_header(config, reference),
    )
    view = ProgressView(out, tty=out.isatty(), sources=sources)
    if quiet:
        for message in response.messages():
            if isinstance(message, dict) and message.get("error"):
                raise CLIError(str(message["error"]))
    else:
        view.show_all(response.messages())


def _full_name(reference: str) -> str:
    """``busybox`` → ``docker.io/library/busybox:latest``, as docker names what it pulled."""
    name, tag = split_reference(reference)
    if registry_of(name) == DEFAULT_REGISTRY and not name.startswith(DEFAULT_REGISTRY + "/"):
        name = f"{DEFAULT_REGISTRY}/{name if '/' in name else 'library/' + name}"
    sep = "@" if tag.startswith("sha256:") else ":"
    return f"{name}{sep}{tag}"


def pull(args: argparse.Namespace, client: Client) -> int:
    if args.all_tags and (":" in args.image.rpartition("/")[2] or "@" in args.image):
        raise UsageError("tag can't be used with --all-tags/-a")
    pull_image(
        client,
        config_dir(args),
        args.image,
        platform=args.platform,
        quiet=args.quiet,
        all_tags=args.all_tags,
        sources=bool(getattr(args, "debug", False)),
    )
    if not args.all_tags:
        sys.stdout.write(_full_name(args.image) + "\n")
    return 0


def push(args: argparse.Namespace, client: Client) -> int:
    name, tag = split_reference(args.image)
    response = client.request(
        "POST",
        f"/images/{name}/push",
        query={"tag": tag},
        headers=auth_header(config_dir(args), args.image),
    )
    if args.quiet:
        for message in response.messages():
            if isinstance(message, dict) and message.get("error"):
                raise CLIError(str(message["error"]))
        sys.stdout.write(_full_name(args.image) + "\n")
    else:
        ProgressView(sys.stdout, tty=sys.stdout.isatty()).show_all(response.messages())
    return 0


def _read_password_stdin() -> str:
    data = sys.stdin.read()
    password = data.rstrip("\r\n")
    if not password:
        raise UsageError("--password-stdin: nothing was read from stdin")
    return password


def login(args: argparse.Namespace, client: Client) -> int:
    server = normalize_server(args.server)
    if args.password and args.password_stdin:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    if args.password_stdin and not args.username:
        raise UsageError("--password-stdin needs --username")
    username = args.username
    if not username:
        if not sys.stdin.isatty():
            raise UsageError("cannot prompt for a user name: stdin is not a terminal (use -u)")
        username = input("Username: ").strip()
    if args.password:
        sys.stderr.write("WARNING! Using --password is insecure: use --password-stdin.\n")
        password = args.password
    elif args.password_stdin:
        password = _read_password_stdin()
    else:
        if not sys.stdin.isatty():
            raise UsageError(
                "cannot prompt for a password: stdin is not a terminal (use --password-stdin)"
            )
        try:
            password = getpass.getpass("Password: ")
        except EOFError:
            raise UsageError("no password given") from None
    if not username or not password:
        raise UsageError("a user name and a password are both needed")
    address = "https://index.docker.io/v1/" if server == DEFAULT_REGISTRY else server
    answer = client.post(
        "/auth", json_body={"username": username, "password": password, "serveraddress": address}
    )
    remember(config_dir(args), server, username, password)
    status = (answer or {}).get("Status") or "Login Succeeded"
    sys.stdout.write(f"{status}\n")
    return 0


def logout(args: argparse.Namespace, client: Client) -> int:
    server = normalize_server(args.server)
    if forget(config_dir(args), server):
        sys.stdout.write(f"Removing login credentials for {server}\n")
    else:
        sys.stdout.write(f"Not logged in to {server}\n")
    return 0
