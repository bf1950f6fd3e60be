"""The operations a chaos worker draws: what users do, through the ``pouch`` CLI.

Each operation runs one or two CLI commands against the daemon and writes
what the client was told into the ``Ledger``. A command cut short by the
daemon's death fails, and the ledger then records only what is certain.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pouch.testing.chaos._extension import Operation
from pouch.testing.chaos._ledger import ENDLESS, Expected, Ledger

__all__ = ["Client", "Operations", "Outcome"]

_TIMEOUT = 120.0


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool


def _cut_short(done: subprocess.CompletedProcess[str]) -> bool:
    """Whether pouchd died with the request in hand (it may have acted on it)."""
    return done.returncode == 124 or "closed the connection" in done.stderr


class Client:
    """The ``pouch`` program, pointed at one daemon."""

    def __init__(self, program: Path, host: str) -> None:
        self.program = program
        self.env = {"POUCH_HOST": host, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        self.failures: Counter[str] = Counter()  # "command: first line of stderr"
        self.in_flight: Counter[str] = Counter()  # commands running now
        self._lock = threading.Lock()
        if "PYTHONPATH" in os.environ:  # a checkout run in place
            self.env["PYTHONPATH"] = os.environ["PYTHONPATH"]

    def __call__(self, *args: str, timeout: float = _TIMEOUT) -> subprocess.CompletedProcess[str]:
        command = " ".join(args[:2] if args[0] in ("network", "volume") else args[:1])
        with self._lock:
            self.in_flight[command] += 1
        try:
            return self._run(command, args, timeout)
        finally:
            with self._lock:
                self.in_flight[command] -= 1

    def snapshot(self) -> Counter[str]:
        """The commands running now."""
        with self._lock:
            return +self.in_flight

    def _run(
        self, command: str, args: tuple[str, ...], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                [str(self.program), *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            done = subprocess.CompletedProcess(exc.cmd, 124, "", "timed out")
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[0]
            reason = re.sub(r"[0-9a-f]{12,64}|chaos-[a-z]+-\d+", "…", reason)[:100]
            with self._lock:
                self.failures[f"{command}: {reason}"] += 1
        return done


class Operations:
    """The weighted operations; ``draw`` picks and runs one."""

    def __init__(
        self,
        client: Client,
        ledger: Ledger,
        *,
        runtimes: Sequence[str],
        image: str,
        pullable: Sequence[str],
        archive: Path,
    ) -> None:
        self.run = client
        self.ledger = ledger
        self.runtimes = list(runtimes)
        self.image = image
        self.pullable = list(pullable)
        self.archive = archive
        self._table: list[tuple[int, Operation]] = [
            (24, self.run_detached),
            (8, self.create_then_start),
            (6, self.stop),
            (4, self.kill),
            (10, self.remove),
            (6, self.exec),
            (6, self.logs),
            (2, self.attach),
            (3, self.network_create),
            (3, self.network_connect),
            (2, self.network_remove),
            (3, self.volume_create),
            (2, self.volume_remove),
            (3 if self.pullable else 0, self.pull),
            (2, self.load),
            (2, self.image_remove),
        ]

    def extend(self, extra: Sequence[tuple[int, Operation]]) -> None:
        """Draw these operations too (a plugin's, see ``Extension``)."""
        self._table += list(extra)

    def draw(self, rng: random.Random) -> Outcome:
        weights = [w for w, _ in self._table]
        (_, operation) = rng.choices(self._table, weights=weights)[0]
        if len(self.ledger.containers) > 24 and rng.random() < 0.5:
            operation = self.remove  # keep the population bounded
        return Outcome(operation.__name__, operation(rng))

    def _on(
        self, expected: Expected, *args: str, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command about ``expected``, noting it in its history."""
        done = self.run(*args) if timeout is None else self.run(*args, timeout=timeout)
        outcome = done.stdout.strip()[:16] if done.returncode == 0 else done.stderr.strip()[:80]
        expected.history.append(f"{args[0]} -> {done.returncode} {outcome}")
        return done

    # -- containers ---------------------------------------------------------------

    def _expected(self, rng: random.Random, prefix: str) -> Expected:
        lines = ENDLESS if rng.random() < 0.3 else rng.randint(3, 40)
        return Expected(
            name=self.ledger.new_name(prefix),
            runtime=rng.choice(self.runtimes),
            lines=lines,
            code=rng.randint(0, 9),
        )

    def _create_args(self, rng: random.Random, expected: Expected) -> list[str]:
        args = ["--name", expected.name, "--runtime", expected.runtime]
        network = self.ledger.pick(rng, "networks")
        if network and rng.random() < 0.3:
            args += ["--network", network]
        volume = self.ledger.pick(rng, "volumes")
        if volume and rng.random() < 0.3:
            args += ["-v", f"{volume}:/data"]
        return [*args, self.image, "sh", "-c", expected.script()]

    def run_detached(self, rng: random.Random) -> bool:
        with self.ledger.adding(self._expected(rng, "chaos-run")) as expected:
            done = self._on(expected, "run", "-d", *self._create_args(rng, expected))
            if done.returncode == 0:
                self.ledger.acknowledge(expected.name, done.stdout.strip())
            return done.returncode == 0

    def create_then_start(self, rng: random.Random) -> bool:
        with self.ledger.adding(self._expected(rng, "chaos-create")) as expected:
            done = self._on(expected, "create", *self._create_args(rng, expected))
            if done.returncode != 0:
                return False
            self.ledger.acknowledge(expected.name, done.stdout.strip())
            return self._on(expected, "start", expected.name).returncode == 0

    def stop(self, rng: random.Random) -> bool:
        return self._interfere(rng, "stop", "-t", "1")

    def kill(self, rng: random.Random) -> bool:
        return self._interfere(rng, "kill")

    def _interfere(self, rng: random.Random, *command: str) -> bool:
        """``command`` on a container; its exit code is no longer its own."""
        with self.ledger.claim(rng) as expected:
            if expected is None:
                return False
            expected.interfered = True
            return self._on(expected, *command, expected.name).returncode == 0

    def remove(self, rng: random.Random) -> bool:
        with self.ledger.claim(rng) as expected:
            if expected is None:
                return False
            done = self._on(expected, "rm", "-f", expected.name)
            if done.returncode == 0:
                self.ledger.forget(expected.name, expected.id)
            elif not expected.acknowledged and "No such container" in done.stderr:
                self.ledger.forget(expected.name, "")  # its create never completed
            elif _cut_short(done):
                expected.acknowledged = False  # the removal may have been done, or not
            return done.returncode == 0

    def exec(self, rng: random.Random) -> bool:
        with self.ledger.claim(rng) as expected:
            if expected is None:
                return False
            return self.run("exec", expected.name, "echo", "exec-ok").stdout == "exec-ok\n"

    def logs(self, rng: random.Random) -> bool:
        with self.ledger.claim(rng) as expected:
            if expected is None:
                return False
            return self.run("logs", expected.name).returncode == 0

    def attach(self, rng: random.Random) -> bool:
        """Attach for a moment (the client leaves; the container runs on)."""
        with self.ledger.claim(rng) as expected:
            if expected is None:
                return False
            done = self.run("attach", "--no-stdin", expected.name, timeout=rng.uniform(0.2, 1.5))
            return done.returncode in (0, 124)

    # -- networks, volumes, images ----------------------------------------------

    def network_create(self, rng: random.Random) -> bool:
        name = self.ledger.new_name("chaos-net")
        self.ledger.networks.add(name)  # made or not, it is removed at the end
        return self.run("network", "create", name).returncode == 0

    def network_connect(self, rng: random.Random) -> bool:
        network = self.ledger.pick(rng, "networks")
        with self.ledger.claim(rng) as expected:
            if expected is None or network is None:
                return False
            return self._on(expected, "network", "connect", network, expected.name).returncode == 0

    def network_remove(self, rng: random.Random) -> bool:
        return self._remove_named(rng, "networks", "network")

    def volume_create(self, rng: random.Random) -> bool:
        name = self.ledger.new_name("chaos-vol")
        self.ledger.volumes.add(name)
        return self.run("volume", "create", name).returncode == 0

    def volume_remove(self, rng: random.Random) -> bool:
        return self._remove_named(rng, "volumes", "volume")

    def _remove_named(self, rng: random.Random, kind: str, command: str) -> bool:
        """``pouch COMMAND rm`` of one of the ledger's ``kind``; forgotten once it returned."""
        name = self.ledger.pick(rng, kind)
        if name is None:
            return False
        done = self.run(command, "rm", name)
        if done.returncode == 0:
            getattr(self.ledger, kind).discard(name)
        return done.returncode == 0

    def pull(self, rng: random.Random) -> bool:
        reference = rng.choice(self.pullable)
        self.ledger.images.add(reference)
        return self.run("pull", "-q", reference).returncode == 0

    def load(self, rng: random.Random) -> bool:
        return self.run("load", "-q", "-i", str(self.archive)).returncode == 0

    def image_remove(self, rng: random.Random) -> bool:
        reference = self.ledger.pick(rng, "images")
        if reference is None:
            return False
        return self.run("rmi", reference).returncode == 0
