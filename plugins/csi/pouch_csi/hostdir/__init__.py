"""``pouch-csi-hostdir``: a small CSI driver whose volumes are directories on this host.

It serves the CSI Identity, Controller and Node services on a unix socket
(``--endpoint unix:///run/pouch-csi/hostdir.sock``), keeps its volumes under
``--root`` (``pouch_csi.hostdir._store``) and mounts them with bind mounts
(``_node``). A size becomes an ext4/xfs project quota where the root's
filesystem has ``prjquota``; snapshots are copies. It is the driver pouch's
own tests and CI run the CSI client against, and a starting point for a
driver of one's own. ``--no-controller``, ``--no-stage`` and ``--publish``
make it look like drivers that lack or have those parts.

Logs name each call and its outcome, never a request's contents (which may
carry secrets).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import grpc

from pouch_csi._pb import csi_pb2 as pb
from pouch_csi.hostdir._controller import Controller, Fail, Features, Identity
from pouch_csi.hostdir._node import Node
from pouch_csi.hostdir._store import Store
from pouch_csi.registry import read_secrets

__all__ = ["main", "serve"]

log = logging.getLogger("pouch-csi-hostdir")


class _Locks:
    """One lock per volume: calls on a volume wait for each other, as the spec allows."""

    def __init__(self) -> None:
        self._locks: dict[str, anyio.Lock] = {}

    def of(self, request: Any) -> anyio.Lock | None:
        volume = getattr(request, "volume_id", "") or getattr(request, "source_volume_id", "")
        return self._locks.setdefault(volume, anyio.Lock()) if volume else None


def _method(name: str, implementation: Any, locks: _Locks, secrets: dict[str, str]) -> Any:
    checks_secrets = (
        bool(secrets) and "secrets" in getattr(pb, f"{name}Request").DESCRIPTOR.fields_by_name
    )

    async def call(request: Any, context: Any) -> Any:
        if checks_secrets and any(request.secrets.get(k) != v for k, v in secrets.items()):
            log.info("%s: PERMISSION_DENIED: wrong or missing secrets", name)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "wrong or missing secrets")
        lock = locks.of(request)
        try:
            if lock is None:
                response = await implementation(request)
            else:
                async with lock:
                    response = await implementation(request)
        except Fail as failure:
            log.info("%s: %s: %s", name, failure.code.name, failure.message)
            await context.abort(failure.code, failure.message)
        except OSError as error:
            log.warning("%s: %s", name, error)
            await context.abort(grpc.StatusCode.INTERNAL, f"{name}: {error}")
        log.info("%s: ok", name)
        return response

    request_type = getattr(pb, f"{name}Request")
    response_type = getattr(pb, f"{name}Response")
    return grpc.unary_unary_rpc_method_handler(
        call,
        request_deserializer=request_type.FromString,
        response_serializer=response_type.SerializeToString,
    )


def _handler(service: str, implementation: object, locks: _Locks, secrets: dict[str, str]) -> Any:
    methods = {
        name: _method(name, getattr(implementation, name), locks, secrets)
        for name in dir(implementation)
        if name[:1].isupper()
    }
    return grpc.method_handlers_generic_handler(f"csi.v1.{service}", methods)


def _socket_path(endpoint: str) -> Path:
    if not endpoint.startswith("unix://"):
        raise SystemExit(f"--endpoint must be unix:///path/to.sock (got {endpoint!r})")
    return Path(endpoint.removeprefix("unix://"))


async def serve(
    endpoint: str,
    root: Path,
    *,
    node_id: str = "",
    features: Features | None = None,
    crash_in: str = "",
    delay_in: tuple[str, float] = ("", 0.0),
    secrets: dict[str, str] | None = None,
) -> None:
    """Serve the driver on ``endpoint`` until cancelled or sent SIGTERM/SIGINT.

    With ``secrets``, every call whose request carries secrets must carry these.
    """
    secrets = secrets or {}
    features = features or Features()
    node_id = node_id or socket.gethostname()
    path = _socket_path(endpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a socket a killed instance left
    store = Store(root)
    locks = _Locks()
    node = Node(store, features, node_id, crash_in=crash_in, delay_in=delay_in)
    handlers = [
        _handler("Identity", Identity(features), locks, secrets),
        _handler("Node", node, locks, secrets),
    ]
    if features.controller:
        controller = Controller(store, features, node_id)
        handlers.append(_handler("Controller", controller, locks, secrets))
    server = grpc.aio.server(handlers=handlers)
    server.add_insecure_port(f"unix://{path}")
    await server.start()
    os.chmod(path, 0o600)
    log.info("serving %s on %s (node %s, volumes under %s)", "hostdir", path, node_id, root)
    try:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                break
    finally:
        with anyio.CancelScope(shield=True):
            await server.stop(grace=2)
            path.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pouch-csi-hostdir",
        description="A CSI driver whose volumes are directories on this host (bind-mounted, "
        "sized by ext4/xfs project quota where the root's filesystem has prjquota, "
        "snapshots by copy). Register it with: pouch csi add NAME --endpoint ENDPOINT",
    )
    parser.add_argument(
        "--endpoint",
        default="unix:///run/pouch-csi/hostdir.sock",
        help="where to serve (default: %(default)s)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("/var/lib/pouch-csi/hostdir"),
        help="where volumes and snapshots live (default: %(default)s)",
    )
    parser.add_argument("--node-id", default="", help="this node's ID (default: the hostname)")
    parser.add_argument(
        "--no-controller", action="store_true", help="offer no Controller service (static volumes)"
    )
    parser.add_argument(
        "--no-stage", action="store_true", help="offer no NodeStage/NodeUnstage (publish only)"
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="offer ControllerPublish/Unpublish (volumes must be published to the node first)",
    )
    parser.add_argument(
        "--secrets-file",
        metavar="FILE",
        help="JSON object or KEY=VALUE lines: the secrets every call that carries secrets"
        " must carry (PERMISSION_DENIED otherwise)",
    )
    parser.add_argument(
        "--crash-in",
        default="",
        metavar="METHOD",
        help="for testing clients: exit abruptly inside METHOD (e.g. NodePublishVolume)",
    )
    parser.add_argument(
        "--delay-in",
        default="",
        metavar="METHOD=SECONDS",
        help="for testing clients: answer METHOD only that long after doing it",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every call")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    features = Features(
        controller=not args.no_controller, stage=not args.no_stage, publish=args.publish
    )
    method, _, seconds = args.delay_in.partition("=")
    delay = (method, float(seconds or 0))
    anyio.run(
        lambda: serve(
            args.endpoint,
            args.root,
            node_id=args.node_id,
            features=features,
            crash_in=args.crash_in,
            delay_in=delay,
            secrets=read_secrets(args.secrets_file or ""),
        )
    )
    return 0
