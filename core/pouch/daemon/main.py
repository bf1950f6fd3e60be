"""``pouchd``: the daemon's program — settings, listeners, engine, API server, signals.

Settings come from embedded defaults, then ``/etc/pouch/pouchd.toml`` (or
``--config``) if present — its ``[daemon]`` table for the daemon, everything
else for the engine (``pouch.config.EngineConfig``) — then the flags. On
SIGTERM or SIGINT pouchd stops serving and exits; the containers keep running
under their monitors and are picked up again at the next start.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import socket
import sys
import tomllib
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import msgspec

from pouch import __version__
from pouch._memory import limit_arenas, skip_httpx_cli
from pouch.config import EngineConfig, load_config
from pouch.daemon.listeners import (
    SOCKET_GROUP,
    ListenError,
    TLSFiles,
    group_id,
    open_listener,
    unix_path,
)
from pouch.errors import InvalidArgument

__all__ = ["DEFAULT_CONFIG", "DEFAULT_HOST", "DaemonSettings", "main", "parse_args", "serve"]

log = logging.getLogger("pouch.daemon")

DEFAULT_CONFIG = Path("/etc/pouch/pouchd.toml")
DEFAULT_HOST = "unix:///run/pouch/pouchd.sock"

PluginFactory = Callable[[EngineConfig], Sequence[tuple[str, object]]]


class Tracing(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    exporter: str = ""  # "", "console" or "otlp"; OTEL_TRACES_EXPORTER fills it in
    endpoint: str = ""
    file: str = ""  # every span also as a line of JSON here (--trace-file)


class DaemonSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The ``[daemon]`` table of pouchd.toml."""

    hosts: list[str] = msgspec.field(default_factory=lambda: [DEFAULT_HOST])
    log_level: str = "info"
    # Group of the unix sockets (-G): members can drive pouchd, so are root on
    # the host. The default applies only when that group exists; "" is root only.
    socket_group: str = SOCKET_GROUP
    tls_verify: bool = False
    tls_ca_cert: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tracing: Tracing = msgspec.field(default_factory=Tracing)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pouchd", description="pouch's daemon: the Docker Engine API over a unix socket"
    )
    parser.add_argument("--config", type=Path, help=f"settings file (default {DEFAULT_CONFIG})")
    parser.add_argument("--root", type=Path, help="state directory (default /var/lib/pouch)")
    parser.add_argument("--run-root", type=Path, help="runtime directory (default /run/pouch)")
    parser.add_argument(
        "-H",
        "--host",
        action="append",
        dest="hosts",
        help=f"unix:///path, or tcp://host:port with --tlsverify; repeatable ({DEFAULT_HOST})",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "-G",
        "--group",
        dest="socket_group",
        metavar="GROUP",
        help="group (name or gid) of the unix socket, mode 0660 ([daemon] socket_group; default"
        f' {SOCKET_GROUP} when that group exists, "" for root only). Anyone in it can start a'
        " privileged container: membership is root on this host",
    )
    parser.add_argument(
        "--userns-remap",
        metavar="default|NAME[:GROUP]",
        help="map container root to a subordinate ID range of /etc/subuid and /etc/subgid",
    )
    parser.add_argument(
        "--hooks-dir",
        action="append",
        dest="hooks_dirs",
        metavar="DIR",
        help="a directory of OCI hook files (JSON); repeatable, replaces the default"
        " /usr/share/pouch/hooks.d and /etc/pouch/hooks.d",
    )
    parser.add_argument(
        "--cgroup-manager",
        choices=["cgroupfs", "systemd"],
        help="who creates containers' cgroups: the runtime in the cgroup filesystem (default),"
        " or systemd, as scopes in system.slice (runc and crun; needs systemd as init)",
    )
    parser.add_argument(
        "--trace-file",
        metavar="PATH",
        help="append every trace span, as it ends, to PATH as a line of JSON"
        " (what bench/profile reads; [daemon.tracing] file)",
    )
    parser.add_argument("--tlsverify", action="store_true", default=None)
    parser.add_argument("--tlscacert")
    parser.add_argument("--tlscert")
    parser.add_argument("--tlskey")
    parser.add_argument("--version", action="version", version=f"pouchd {__version__}")
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> tuple[DaemonSettings, EngineConfig]:
    """Defaults, the file, then the flags; InvalidArgument names what is wrong."""
    path = args.config or DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if args.config is not None and not path.exists():
        raise InvalidArgument(f"{path} does not exist", field="config")
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"{path}: {exc}", field="config") from None
    daemon_table = data.pop("daemon", {})
    try:
        settings = msgspec.convert(daemon_table, DaemonSettings)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"{path}: [daemon] {exc}") from None
    overrides = {
        "hosts": args.hosts,
        "log_level": args.log_level,
        "socket_group": args.socket_group,
        "tls_verify": args.tlsverify,
        "tls_ca_cert": args.tlscacert,
        "tls_cert": args.tlscert,
        "tls_key": args.tlskey,
    }
    settings = msgspec.structs.replace(
        settings, **{k: v for k, v in overrides.items() if v is not None}
    )
    _check_socket_group(settings.socket_group, args, path, daemon_table)
    if args.trace_file:
        tracing = msgspec.structs.replace(settings.tracing, file=str(args.trace_file))
        settings = msgspec.structs.replace(settings, tracing=tracing)
    data.update({k: str(v) for k, v in (("root", args.root), ("run_root", args.run_root)) if v})
    if args.userns_remap is not None:
        data["userns_remap"] = args.userns_remap
    if args.hooks_dirs:
        data["hooks_dirs"] = args.hooks_dirs
    if args.cgroup_manager:
        data["cgroup_manager"] = args.cgroup_manager
    config = load_config(None, **data)
    return settings, config


def _check_socket_group(
    group: str, args: argparse.Namespace, path: Path, daemon_table: dict[str, Any]
) -> None:
    """A group named on purpose must exist; the default one only where it does."""
    if args.socket_group is not None:
        where = "-G/--group"
    elif "socket_group" in daemon_table:
        where = f"{path}: [daemon] socket_group"
    else:
        return
    if group and group_id(group) is None:
        raise InvalidArgument(
            f"no such group {group!r}; create it (groupadd {group}) or name an existing group",
            field=where,
        )


def _notify_systemd(message: str) -> None:
    """sd_notify for ``Type=notify`` units; nothing when not started by systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        try:
            notify.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("cannot notify systemd: %s", exc)


async def serve(
    settings: DaemonSettings,
    config: EngineConfig,
    *,
    plugins: Sequence[tuple[str, object]] = (),
) -> None:
    """Run pouchd until SIGTERM or SIGINT."""
    from pouch._children import watch_children_with_pidfds
    from pouch.daemon.context import Daemon
    from pouch.daemon.server import Server, build_app
    from pouch.engine import Engine

    watch_children_with_pidfds()
    tls = TLSFiles(
        verify=settings.tls_verify,
        ca=settings.tls_ca_cert,
        cert=settings.tls_cert,
        key=settings.tls_key,
    )
    sockets = [p for p in (unix_path(h) for h in settings.hosts) if p is not None]
    gid = group_id(settings.socket_group)
    if sockets and gid is None and settings.socket_group:
        log.info("no group %s: the API socket is root's only", settings.socket_group)
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with AsyncExitStack() as stack:
            listeners = []
            for host in settings.hosts:
                listener = await open_listener(host, tls=tls, socket_gid=gid)
                stack.push_async_callback(listener.aclose)
                listeners.append(listener)
            for path in sockets:
                stack.callback(path.unlink, missing_ok=True)
            engine = await stack.enter_async_context(Engine(config, plugins=plugins))
            daemon = await stack.enter_async_context(Daemon(engine))
            await stack.enter_async_context(Server(build_app(daemon), listeners))
            log.info("pouchd %s serving on %s", __version__, ", ".join(settings.hosts))
            _notify_systemd("READY=1")
            async for received in signals:
                log.info(
                    "%s received: stopping (containers keep running)", signal.Signals(received).name
                )
                _notify_systemd("STOPPING=1")
                break


def main(argv: Sequence[str] | None = None, *, extra_plugins: PluginFactory | None = None) -> int:
    """The ``pouchd`` program; ``extra_plugins`` is for test launchers only."""
    limit_arenas()
    skip_httpx_cli()
    args = parse_args(argv)
    try:
        settings, config = load_settings(args)
    except InvalidArgument as exc:
        print(f"pouchd: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from pouch.telemetry import configure_sdk

    try:
        tracing = settings.tracing
        if configure_sdk(tracing.exporter, tracing.endpoint, tracing.file):
            log.info("tracing is on")
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"pouchd: {exc}", file=sys.stderr)
        return 2
    plugins = list(extra_plugins(config)) if extra_plugins is not None else []
    try:
        anyio.run(functools.partial(serve, settings, config, plugins=plugins))
    except ListenError as exc:
        print(f"pouchd: {exc}", file=sys.stderr)
        return 1
    except InvalidArgument as exc:  # a setting the host cannot honour (cgroup_manager)
        print(f"pouchd: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
