"""The seeded chaos run, short: pouchd killed 10 times while clients drive it.

Four clients run a seeded mix of run -d, create/start, stop, kill, rm -f,
exec, logs, network and volume create/connect/rm, pull and load across
runc, crun and lxc, while pouchd is killed with SIGKILL (sometimes again
during its start-up). After each restart nothing acknowledged is lost,
states and logs are true; after removing everything the host holds nothing
a container or network left. ``python -m pouch.testing.chaos --kills 100``
is the long run by hand; a failure here prints the seed that replays it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pouch.testing.chaos import Chaos, ChaosSettings, staged, summary, unavailable

pytest.importorskip("pouch_runc", reason="chaos drives real containers: needs pouch-runc")

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,  # a minute or two
    pytest.mark.binary("runc", "conmon"),
]

SEED = int(os.environ.get("POUCH_CHAOS_SEED", "20261205"))
# More by hand: POUCH_CHAOS_KILLS=100.
KILLS = int(os.environ.get("POUCH_CHAOS_KILLS", "0"))
pytestmark.append(pytest.mark.timeout(max(900, KILLS * 15)))


def test_nothing_acknowledged_is_lost_and_nothing_leaks_across_kills(tmp_path: Path) -> None:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    settings = ChaosSettings(seed=SEED, kills=KILLS or 10, workers=4, min_delay=1.0, max_delay=3.0)
    lines: list[str] = []
    with staged(tmp_path, ["runc", "crun", "lxc"]) as stage:
        chaos = Chaos(settings, stage.daemon, stage.operations, stage.ledger, say=lines.append)
        passed = chaos.run(stage.before)
        log = stage.daemon.log()
    report = "\n".join([*lines, summary(chaos)])
    print(report)
    assert sum(sum(r.operations.values()) for r in chaos.rounds) > settings.kills * 4, report
    assert passed, f"seed {SEED} (POUCH_CHAOS_SEED replays it):\n{report}\n{log[-6000:]}"
