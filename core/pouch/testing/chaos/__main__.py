"""``python -m pouch.testing.chaos``: a chaos run by hand (root, runc/crun/lxc installed)."""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pouch.testing.chaos import Chaos, ChaosSettings, staged, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pouch.testing.chaos",
        description="Kill pouchd with SIGKILL at random moments while clients drive it;"
        " check that nothing acknowledged is lost and nothing is leaked.",
    )
    parser.add_argument("--seed", type=int, help="replay a run (default: a random one)")
    parser.add_argument("--kills", type=int, default=100, help="rounds, one kill each (100)")
    parser.add_argument("--workers", type=int, default=4, help="concurrent clients (4)")
    parser.add_argument(
        "--runtimes", default="runc,crun,lxc", help="runtimes to spread containers over"
    )
    parser.add_argument(
        "--max-delay", type=float, default=2.0, help="longest time before a kill, seconds (2)"
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(1 << 30)
    settings = ChaosSettings(
        seed=seed, kills=args.kills, workers=args.workers, max_delay=args.max_delay
    )
    print(f"chaos seed {seed}: {settings.kills} kills, {settings.workers} workers", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="pouch-chaos-") as work,
        staged(Path(work), args.runtimes.split(",")) as stage,
    ):
        print(f"runtimes {', '.join(stage.runtimes)}; network {stage.network}", flush=True)
        chaos = Chaos(
            settings,
            stage.daemon,
            stage.operations,
            stage.ledger,
            say=lambda line: print(line, flush=True),
        )
        try:
            passed = chaos.run(stage.before)
        finally:
            kept = Path(tempfile.gettempdir()) / f"pouch-chaos-{seed}.log"
            shutil.copyfile(stage.daemon.log_path, kept)
            print(f"pouchd's log: {kept}", flush=True)
    print(summary(chaos))
    if not passed:
        print(f"FAILED: replay with --seed {seed} --kills {settings.kills}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
