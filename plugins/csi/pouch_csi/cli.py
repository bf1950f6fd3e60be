"""``pouch csi`` (the program ``pouch-csi``): register CSI drivers, list them, take snapshots.

It runs on the node, beside pouchd: it asks pouchd (``-H``/``$POUCH_HOST``)
for its state root and volumes, and talks to the drivers' sockets itself.
``add`` probes a driver before it registers it, so a typo in the endpoint or
a driver that is not running is said at once; registrations live in
``<root>/csi/drivers.json``, which pouchd reads again when it changes.
Volumes themselves are made with ``pouch volume create --driver csi``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec

from pouch.errors import PouchError
from pouch_csi._pb import csi_pb2 as pb
from pouch_csi.client import CsiClient, Profile
from pouch_csi.registry import Driver, Registry, check_endpoint, check_name, read_secrets

__all__ = ["main"]

EPILOG = """\
Examples:
  pouch-csi-hostdir --endpoint unix:///run/pouch-csi/hostdir.sock &
  pouch csi add hostdir --endpoint unix:///run/pouch-csi/hostdir.sock
  pouch volume create --driver csi --opt driver=hostdir --opt size=64MiB data
  pouch csi snapshot create data before-upgrade
  pouch volume create --driver csi --opt driver=hostdir --opt from-snapshot=ID restored"""


class CliError(Exception):
    pass


class Daemon:
    """The few pouchd calls ``pouch csi`` makes, over the Engine API."""

    def __init__(self, host: str) -> None:
        from pouch.cli.main import make_client

        namespace = argparse.Namespace(
            host=host, tls=False, tlsverify=False, tlscacert=None, tlscert=None, tlskey=None
        )
        self.client = make_client(namespace)

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        from pouch.cli.main import CLIError

        try:
            return self.client.get(path, query)
        except CLIError as error:
            raise CliError(error.message) from None


def _registry(args: argparse.Namespace) -> Registry:
    root = args.root
    if root is None:
        root = Path(Daemon(args.host).get("/info")["DockerRootDir"])
    return Registry({}, Path(root) / "csi" / "drivers.json")


def _probe(name: str, driver: Driver) -> Profile:
    async def probe() -> Profile:
        client = CsiClient(name, driver.endpoint, driver.node_endpoint, timeout=10)
        try:
            return await client.probe()
        finally:
            await client.close()

    return anyio.run(probe)


def _summary(profile: Profile) -> str:
    parts = [f"{profile.plugin_name} {profile.vendor_version}".strip()]
    parts.append("controller" if profile.controller else "no controller (static volumes)")
    if profile.can("STAGE_UNSTAGE_VOLUME"):
        parts.append("stages")
    if profile.can("PUBLISH_UNPUBLISH_VOLUME"):
        parts.append("publishes")
    if profile.can("CREATE_DELETE_SNAPSHOT"):
        parts.append("snapshots")
    if profile.can("EXPAND_VOLUME"):
        parts.append(f"expands {profile.expansion}".strip())
    return ", ".join(parts) + f"; node {profile.node_id}"


def cmd_add(args: argparse.Namespace) -> int:
    driver = Driver(
        endpoint=args.endpoint,
        node_endpoint=args.node_endpoint or "",
        secrets_file=str(Path(args.secrets_file).resolve()) if args.secrets_file else "",
        timeout=args.timeout,
    )
    registry = _registry(args)
    check_name(args.name)
    check_endpoint(driver.endpoint)
    profile = _probe(args.name, driver)
    registry.add(args.name, driver)
    print(f"{args.name}: {_summary(profile)}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    registry = _registry(args)
    rows = []
    for name, driver in sorted(registry.drivers().items()):
        row: dict[str, Any] = {"Name": name, "Endpoint": driver.endpoint}
        try:
            profile = _probe(name, driver)
            row.update(Status="ready", Driver=profile.plugin_name, Summary=_summary(profile))
        except PouchError as error:
            row.update(Status="unreachable", Driver="", Summary=str(error))
        rows.append(row)
    if args.format == "json":
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'NAME':<16} {'STATUS':<12} {'ENDPOINT':<44} DRIVER")
    for row in rows:
        print(f"{row['Name']:<16} {row['Status']:<12} {row['Endpoint']:<44} {row['Summary']}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    registry = _registry(args)
    driver = registry.get(args.name)
    profile = _probe(args.name, driver)
    shown = {
        "Name": args.name,
        "Registration": msgspec.to_builtins(driver),
        "Probe": msgspec.to_builtins(profile),
    }
    print(json.dumps(shown, indent=2))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    registry = _registry(args)
    volumes = Daemon(args.host).get("/volumes", {"filters": json.dumps({"driver": ["csi"]})})
    using = [
        v["Name"]
        for v in volumes.get("Volumes") or []
        if (v.get("Status") or {}).get("csi_driver") == args.name
    ]
    if using:
        raise CliError(
            f"CSI driver {args.name} still has volumes ({', '.join(using)}): remove them first"
        )
    registry.remove(args.name)
    print(args.name)
    return 0


def _volume(args: argparse.Namespace, name: str) -> tuple[str, str, Driver]:
    info = Daemon(args.host).get(f"/volumes/{name}")
    status = info.get("Status") or {}
    if info.get("Driver") != "csi" or not status.get("volume_id"):
        raise CliError(f"volume {name} is not a CSI volume")
    driver_name = status["csi_driver"]
    return driver_name, status["volume_id"], _registry(args).get(driver_name)


def _call(driver_name: str, driver: Driver, method: str, **fields: Any) -> Any:
    async def call() -> Any:
        client = CsiClient(
            driver_name, driver.endpoint, driver.node_endpoint, timeout=driver.timeout
        )
        try:
            request = getattr(pb, f"{method}Request")(**fields)
            return await client.call("Controller", method, request)
        finally:
            await client.close()

    if "secrets" in pb.DESCRIPTOR.message_types_by_name[f"{method}Request"].fields_by_name:
        fields["secrets"] = read_secrets(driver.secrets_file)
    return anyio.run(call)


def cmd_snapshot_create(args: argparse.Namespace) -> int:
    driver_name, volume_id, driver = _volume(args, args.volume)
    name = args.name or f"{args.volume}-{os.urandom(4).hex()}"
    response = _call(driver_name, driver, "CreateSnapshot", source_volume_id=volume_id, name=name)
    print(response.snapshot.snapshot_id)
    return 0


def cmd_snapshot_ls(args: argparse.Namespace) -> int:
    registry = _registry(args)
    names = [args.driver] if args.driver else sorted(registry.drivers())
    print(f"{'DRIVER':<16} {'SNAPSHOT':<34} {'SOURCE VOLUME':<34} SIZE")
    for name in names:
        driver = registry.get(name)
        token = ""
        for _ in range(1000):
            page = _call(name, driver, "ListSnapshots", starting_token=token)
            for entry in page.entries:
                s = entry.snapshot
                print(f"{name:<16} {s.snapshot_id:<34} {s.source_volume_id:<34} {s.size_bytes}")
            token = page.next_token
            if not token:
                break
    return 0


def cmd_snapshot_rm(args: argparse.Namespace) -> int:
    driver = _registry(args).get(args.driver)
    for snapshot in args.snapshots:
        _call(args.driver, driver, "DeleteSnapshot", snapshot_id=snapshot)
        print(snapshot)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pouch csi",
        description="CSI drivers for pouch volumes: register them, see what they offer, take "
        "snapshots. Volumes are made with: pouch volume create --driver csi --opt driver=NAME",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-H", "--host", default=os.environ.get("POUCH_HOST"), help="pouchd to ask (as pouch -H)"
    )
    parser.add_argument(
        "--root", type=Path, help="pouchd's state root (default: what pouchd says it is)"
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    add = sub.add_parser("add", help="register a driver (probed first)")
    add.add_argument("name", help="the name volumes use: --opt driver=NAME")
    add.add_argument("--endpoint", required=True, help="unix:///path of its Identity/Controller")
    add.add_argument("--node-endpoint", help="unix:///path of its Node service, if elsewhere")
    add.add_argument("--secrets-file", help="JSON or KEY=VALUE lines: secrets for its calls")
    add.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default 60)")
    add.set_defaults(run=cmd_add)

    ls = sub.add_parser("ls", help="list the drivers and whether they answer")
    ls.add_argument("--format", choices=["table", "json"], default="table")
    ls.set_defaults(run=cmd_ls)

    inspect = sub.add_parser("inspect", help="a driver's registration and what it declares")
    inspect.add_argument("name")
    inspect.set_defaults(run=cmd_inspect)

    rm = sub.add_parser("rm", help="forget a driver that has no volumes left")
    rm.add_argument("name")
    rm.set_defaults(run=cmd_rm)

    snapshot = sub.add_parser("snapshot", help="snapshots of CSI volumes")
    snap = snapshot.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = snap.add_parser("create", help="snapshot a volume; prints the snapshot's ID")
    create.add_argument("volume")
    create.add_argument("name", nargs="?", help="the snapshot's name (default: generated)")
    create.set_defaults(run=cmd_snapshot_create)
    snap_ls = snap.add_parser("ls", help="list snapshots")
    snap_ls.add_argument("driver", nargs="?", help="only this driver's")
    snap_ls.set_defaults(run=cmd_snapshot_ls)
    snap_rm = snap.add_parser("rm", help="delete snapshots")
    snap_rm.add_argument("driver")
    snap_rm.add_argument("snapshots", nargs="+", metavar="ID")
    snap_rm.set_defaults(run=cmd_snapshot_rm)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except (CliError, PouchError) as error:
        sys.stderr.write(f"Error: {error}\n")
        return 1
    except OSError as error:
        sys.stderr.write(f"Error: {error}\n")
        return 1
