"""One chaos run: workers drive the daemon while it is killed, again and again.

Each round starts the workers (each with its own seeded random stream of
operations), kills pouchd with SIGKILL after a seeded delay, sometimes kills
it again while it starts up (in the middle of its reconciliation and
repairs), starts it, and checks the invariants. The last round removes
everything, restarts once more and compares the host with how it was before
the first container. The schedule is seeded; the moment of each kill in the
daemon's work is not, so a failing seed is replayed by running it again,
with the same operations in the same order.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pouch.testing.chaos._extension import Extension
from pouch.testing.chaos._invariants import check_after_restart
from pouch.testing.chaos._leaks import HostView, leaks
from pouch.testing.chaos._ledger import Ledger
from pouch.testing.chaos._ops import Operations
from pouch.testing.daemon import PouchDaemon, start_pouchd, stop_pouchd

__all__ = ["Chaos", "ChaosSettings", "Round"]

_JOIN_TIMEOUT = 300.0


@dataclass(frozen=True)
class ChaosSettings:
    seed: int
    kills: int = 10
    workers: int = 4
    min_delay: float = 0.2
    max_delay: float = 2.0
    # How often a restart is itself killed before it answers.
    startup_kills: float = 0.2
    # How often the kill lands in a burst of ``burst`` concurrent ``run -d``.
    bursts: float = 0.3
    burst: int = 8


@dataclass
class Round:
    number: int
    delay: float
    operations: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    startup_killed: bool = False
    burst: bool = False
    # The client commands running when the kill landed.
    in_flight: Counter[str] = field(default_factory=Counter)
    containers: int = 0
    repairs: int = 0
    violations: list[str] = field(default_factory=list)


class Chaos:
    def __init__(
        self,
        settings: ChaosSettings,
        daemon: PouchDaemon,
        operations: Operations,
        ledger: Ledger,
        say: Callable[[str], None] = print,
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.settings = settings
        self.extensions = list(extensions)
        for extension in self.extensions:
            operations.extend(extension.operations())
        self.daemon = daemon
        self.ops = operations
        self.ledger = ledger
        self.say = say
        self.rounds: list[Round] = []
        self.final: list[str] = []

    def run(self, before: HostView) -> bool:
        """Every round, then the removal and the leak check; True when nothing was violated."""
        for number in range(1, self.settings.kills + 1):
            result = self._round(number)
            self.rounds.append(result)
            self.say(
                f"round {number}: killed after {result.delay:.2f}s"
                f"{' in a burst of run -d' if result.burst else ''},"
                f" {sum(result.operations.values())} operations ({result.failed} failed),"
                f" {result.containers} containers, {result.repairs} repairs,"
                f" {len(result.violations)} violations"
            )
            for line in result.violations:
                self.say(f"  violation: {line}")
        self.final = self._finish(before)
        for line in self.final:
            self.say(f"  violation: {line}")
        return not self.final and not any(r.violations for r in self.rounds)

    # -- one round ------------------------------------------------------------------

    def _round(self, number: int) -> Round:
        rng = random.Random(f"{self.settings.seed}/{number}")
        result = Round(number, rng.uniform(self.settings.min_delay, self.settings.max_delay))
        stop = threading.Event()
        lock = threading.Lock()

        def work(worker: int) -> None:
            stream = random.Random(f"{self.settings.seed}/{number}/{worker}")
            while not stop.is_set():
                outcome = self.ops.draw(stream)
                with lock:
                    result.operations[outcome.name] += 1
                    result.failed += not outcome.ok

        threads = [
            threading.Thread(target=work, args=(w,), daemon=True)
            for w in range(self.settings.workers)
        ]
        for thread in threads:
            thread.start()
        time.sleep(result.delay)
        if rng.random() < self.settings.bursts:
            result.burst = True
            burst = [
                threading.Thread(
                    target=lambda seed: self.ops.run_detached(random.Random(seed)),
                    args=(f"{self.settings.seed}/{number}/burst/{b}",),
                    daemon=True,
                )
                for b in range(self.settings.burst)
            ]
            for thread in burst:
                thread.start()
            threads += burst
            time.sleep(rng.uniform(0.05, 0.5))
        stop.set()  # no new operation; those in flight meet the kill
        result.in_flight = self.ops.run.snapshot()
        self._kill()
        for thread in threads:
            thread.join(_JOIN_TIMEOUT)
        if rng.random() < self.settings.startup_kills:
            result.startup_killed = True
            self._start_and_kill(rng.uniform(0.05, 1.0))
        mark = self._log_size()
        start_pouchd(self.daemon)
        result.repairs = self._log_since(mark).count("repair:")
        result.violations = check_after_restart(self.daemon, self.ledger)
        for extension in self.extensions:
            result.violations += extension.check()
        result.containers = len(self.daemon.json("GET", "/containers/json", query={"all": 1}))
        return result

    def _kill(self) -> None:
        process, self.daemon.process = self.daemon.process, None
        if process is not None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=60)

    def _start_and_kill(self, after: float) -> None:
        with open(self.daemon.log_path, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pouch.daemon.main",
                    "--config",
                    str(self.daemon.config_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        time.sleep(after)
        process.kill()
        process.wait(timeout=60)

    def _log_size(self) -> int:
        try:
            return self.daemon.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, mark: int) -> str:
        with open(self.daemon.log_path, "rb") as log:
            log.seek(mark)
            return log.read().decode(errors="replace")

    # -- the end --------------------------------------------------------------------

    def _finish(self, before: HostView) -> list[str]:
        """Remove everything, restart, and compare the host with ``before``."""
        run = self.ops.run
        problems = []
        for extension in self.extensions:
            problems += extension.remove_all()
        ids = [i for i in run("ps", "-aq", "--no-trunc").stdout.split() if i]
        self.ledger.seen_ids.update(ids)
        for container_id in ids:
            done = run("rm", "-f", container_id)
            if done.returncode != 0:
                problems.append(f"rm -f {container_id[:12]} failed: {done.stderr.strip()}")
        for name in list(self.ledger.containers):
            self.ledger.forget(name, self.ledger.containers[name].id)
        # Also what an operation that raced a removal made again (a run -v of
        # a volume being removed creates it anew): everything the run made.
        networks = run("network", "ls", "--format", "{{.Name}}").stdout.split()
        for network in sorted(self.ledger.networks | {n for n in networks if "chaos" in n}):
            run("network", "rm", network)
        for volume in sorted(self.ledger.volumes | set(run("volume", "ls", "-q").stdout.split())):
            run("volume", "rm", volume)
        images = run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        for image in sorted(self.ledger.images | {i for i in images if "chaos" in i}):
            run("rmi", image)
        self.daemon.json("POST", "/images/prune")
        stop_pouchd(self.daemon)
        start_pouchd(self.daemon)
        problems += check_after_restart(self.daemon, self.ledger)
        for extension in self.extensions:
            problems += extension.check()
        left = self.daemon.json("GET", "/containers/json", query={"all": 1})
        problems += [f"container {c['Names']} still listed" for c in left]
        assert self.daemon.process is not None
        after = HostView.take(
            self.daemon.root, self.daemon.run_root, self.ledger.seen_ids, self.daemon.process.pid
        )
        return problems + leaks(before, after)
