"""``pouch-kata``: build and inspect the guest assets, boot a test VM, build the agent.

    pouch-kata assets build [--root DIR] [--force] [--agent PATH]
    pouch-kata assets show  [--root DIR]
    pouch-kata boot         [--root DIR] [--run-root DIR] [--accel kvm|tcg]
    pouch-kata agent build  [-o PATH] [--cache-dir DIR]

``--root`` is pouchd's state root (default /var/lib/pouch); the assets live
in ``<root>/kata/assets``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from pouch.errors import PouchError

from ._accel import choose_accel
from ._assets import DEFAULT_ROOT, AssetError, assets_dir, build_assets, load_assets
from ._qemu import BootError, MicroVM, VMSpec
from ._tsc import host_tsc_khz
from .plugin import qemu_program

__all__ = ["main"]


def _assets_build(args: argparse.Namespace) -> int:
    directory = assets_dir(args.root)

    def say(message: str) -> None:
        print(f"pouch-kata: {message}", file=sys.stderr)

    if args.agent is None and not args.script_init:
        from pouch_kata._agent_build import build_assets_with_agent

        assets, built = build_assets_with_agent(directory, force=args.force, log=say)
    else:
        assets, built = build_assets(directory, force=args.force, agent=args.agent, log=say)
    m = assets.manifest
    verb = f"built in {m.build_seconds:g} s" if built else "up to date (use --force to rebuild)"
    print(f"{directory}: {verb}")
    print(f"  kernel {m.kernel_release}, modules: {' '.join(m.modules)}")
    for name, version in sorted(m.packages.items()):
        print(f"  {name} {version}")
    return 0


def _assets_show(args: argparse.Namespace) -> int:
    assets = load_assets(assets_dir(args.root))
    sys.stdout.write((assets.directory / "manifest.json").read_text())
    return 0


def _boot(args: argparse.Namespace) -> int:
    assets = load_assets(assets_dir(args.root))
    program, package = qemu_program()
    if shutil.which(program) is None:
        print(f"pouch-kata: {program} not found; install the Debian package {package}")
        return 1
    accel = (
        args.accel
        or choose_accel(
            args.run_root,
            guest=(assets.vmlinux, assets.initramfs),
            program=program,
            kernel_id=assets.manifest.vmlinux_sha256,
        ).name
    )
    spec = VMSpec(
        vmlinux=assets.vmlinux, initramfs=assets.initramfs, accel=accel, tsc_khz=host_tsc_khz()
    )
    with tempfile.TemporaryDirectory(prefix="pouch-kata-boot.") as tmp:
        vm = MicroVM(spec, Path(tmp) / "vm", program=program)
        try:
            vm.start()
            line, seconds = vm.wait_ready(timeout=30)
        finally:
            vm.stop()
    print(f"{line} ({accel}, {seconds:.2f} s from start to marker)")
    return 0


def _agent_build_command(args: argparse.Namespace) -> int:
    from pouch_kata import _agent_build

    try:
        path = _agent_build.build(args.output, cache_dir=args.cache_dir)
    except PouchError as error:
        print(f"pouch-kata: {error.message}", file=sys.stderr)
        return 1
    print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pouch-kata", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="pouchd's state root (%(default)s)"
    )
    assets = sub.add_parser("assets", help="the guest kernel and initramfs")
    verbs = assets.add_subparsers(dest="verb", required=True)
    build = verbs.add_parser("build", parents=[root], help="build them from Debian packages")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    build.add_argument(
        "--agent",
        type=Path,
        help="the static guest agent to run as /init (default: build it from the shipped "
        "sources with go)",
    )
    build.add_argument(
        "--script-init",
        action="store_true",
        help="no agent: /init only announces the guest and powers off (for boot timing)",
    )
    build.set_defaults(run=_assets_build)
    show = verbs.add_parser("show", parents=[root], help="print the manifest")
    show.set_defaults(run=_assets_show)
    boot = sub.add_parser("boot", parents=[root], help="boot a VM to its ready marker and time it")
    boot.add_argument("--run-root", type=Path, default=Path("/run/pouch"))
    boot.add_argument("--accel", choices=("kvm", "tcg"), help="skip the probe")
    boot.set_defaults(run=_boot)
    agent = sub.add_parser("agent", help="the guest agent")
    agent_verbs = agent.add_subparsers(dest="verb", required=True)
    agent_build = agent_verbs.add_parser("build", help="build the static agent binary with go")
    agent_build.add_argument("-o", "--output", default="pouch-agent", help="where to write it")
    agent_build.add_argument("--cache-dir", help="keep Go's build cache here between builds")
    agent_build.set_defaults(run=_agent_build_command)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except (AssetError, BootError) as why:
        print(f"pouch-kata: {why}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
