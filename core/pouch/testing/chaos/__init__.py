"""Chaos: pouchd killed with SIGKILL at random moments while clients drive it.

Workers run a seeded random mix of what users do through the ``pouch`` CLI
— ``run -d``, ``create``/``start``, ``stop``, ``kill``, ``rm -f``, ``exec``,
``logs``, network create/connect/rm, volume create/rm, ``pull``, ``load``,
``rmi`` — across the runc, crun and lxc runtimes, while pouchd is killed
again and again (sometimes during its own start-up) and restarted. After
every restart the invariants hold (``_invariants``): what a client was told
is kept, states are true, logs are whole, the database is sound. At the end
everything is removed, pouchd restarts once more, and the host must hold
nothing a container or network left (``_leaks``).

By hand::

    python -m pouch.testing.chaos --kills 100 --seed 7

prints one line per round, the violations with the seed that replays them,
and a summary table; it exits 1 on any violation.
"""

from __future__ import annotations

from collections import Counter

from pouch.testing.chaos._extension import Extension, Operation
from pouch.testing.chaos._leaks import HostView
from pouch.testing.chaos._run import Chaos, ChaosSettings, Round
from pouch.testing.chaos._setup import Stage, staged, unavailable

__all__ = [
    "Chaos",
    "ChaosSettings",
    "Extension",
    "HostView",
    "Operation",
    "Round",
    "Stage",
    "staged",
    "summary",
    "unavailable",
]


def summary(chaos: Chaos) -> str:
    """The run as a table: rounds, operations, cuts, repairs, violations."""
    rounds = chaos.rounds
    operations = sum(sum(r.operations.values()) for r in rounds)
    rows = [
        ("kills of pouchd", str(len(rounds) + sum(r.startup_killed for r in rounds))),
        ("  during its start-up", str(sum(r.startup_killed for r in rounds))),
        ("  in a burst of run -d", str(sum(r.burst for r in rounds))),
        ("operations", str(operations)),
        *((f"  containers made on {r}", str(n)) for r, n in sorted(chaos.ledger.made.items())),
        ("  failed (cut short by a kill, or refused)", str(sum(r.failed for r in rounds))),
        ("start-up repairs logged", str(sum(r.repairs for r in rounds))),
        ("violations after restarts", str(sum(len(r.violations) for r in rounds))),
        ("leaks or violations at the end", str(len(chaos.final))),
    ]
    width = max(len(k) for k, _ in rows)
    table = [f"{k:<{width}}  {v:>6}" for k, v in rows]
    landed: Counter[str] = Counter()
    for r in rounds:
        landed.update(r.in_flight.keys())
    if landed:
        table += ["", "kills that landed while a client was running (rounds, command):"]
        table += [f"{count:>6}  {command}" for command, count in landed.most_common()]
    failures = chaos.ops.run.failures.most_common(12)
    if failures:
        table += ["", "most frequent failures (count, command: first line of its error):"]
        table += [f"{count:>6}  {reason}" for reason, count in failures]
    return "\n".join(table)
