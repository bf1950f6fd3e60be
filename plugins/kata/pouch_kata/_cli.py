"""The ``pouch-kata`` command: tasks of the kata plugin run by hand or by
scripts/setup. It only parses arguments and calls the modules that do the work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pouch.errors import PouchError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pouch-kata", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    agent = commands.add_parser("agent", help="the guest agent")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True)
    build = agent_commands.add_parser("build", help="build the static agent binary with go")
    build.add_argument("-o", "--output", default="pouch-agent", help="where to write it")
    build.add_argument("--cache-dir", help="keep Go's build cache here between builds")
    args = parser.parse_args(argv)

    from pouch_kata import _agent_build

    try:
        path = _agent_build.build(args.output, cache_dir=args.cache_dir)
    except PouchError as error:
        print(f"pouch-kata: {error.message}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
