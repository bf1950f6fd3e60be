"""``python -m pouch.testing.kernels``: boot each layout, run the suites, print the table."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pouch.testing._seccomp_tests import _probe as seccomp_probe
from pouch.testing.debian_images import SYSTEMD, debian_rootfs_tar
from pouch.testing.kernels._image import guest_disk
from pouch.testing.kernels._report import Counts, consistent, read_junit, table
from pouch.testing.kernels._vm import LAYOUTS, Job, boot, kvm_boots

# The runtime conformance suites (runc, crun, lxc), the CNI bridge's, and the
# cgroup readers' own tests.
DEFAULT_TESTS = (
    "plugins/runc/tests/test_conformance.py",
    "plugins/lxc/tests/test_conformance.py",
    "plugins/cni/tests/test_conformance.py",
    "tests/core/cgroups",
)


# ``--subset core``, what CI runs: the tests whose outcome the cgroup layout
# can change (limits, stats, OOM, freezer, systemd, restarts, namespaces,
# seccomp, user namespaces) and the CNI suite's core, on every runtime.
CORE = " or ".join(
    (
        "test_cgroups",
        "lifecycle_states",
        "exit_code",
        "sigkill",
        "stop_after_timeout",
        "pause_resume",
        "memory_limit",
        "update_and_stats",
        "oom_kill",
        "block_io",
        "systemd",
        "survive_engine_restart",
        "outlive_a_killed_daemon",
        "in_the_containers_namespaces",
        "tmpfs_sysctls",
        "default_profile",
        "remapped_root",
        "networks_through_the_engine",
        "published_port",
        "nothing_is_left",
        "network_namespace_of_its_own",
    )
)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pouch.testing.kernels",
        description="Run the conformance suites in Debian 12 guests booted with each cgroup "
        "layout (v1, hybrid, v2), and print a table of the results per layout.",
    )
    parser.add_argument(
        "--layouts", default="v1,hybrid,v2", help="comma-separated, from v1, hybrid, v2"
    )
    parser.add_argument(
        "--subset",
        choices=("all", "core"),
        default="all",
        help="all: the suites whole (some 21 minutes a layout under TCG); core: the tests"
        " the cgroup layout can change (some 9 minutes a layout)",
    )
    parser.add_argument(
        "--accel",
        choices=("auto", "kvm", "tcg"),
        default="auto",
        help="auto: KVM when a guest really boots on it here, else TCG (emulation)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/pouch-kernels"),
        help="where each layout's console, pytest output and JUnit XML go, and table.txt",
    )
    parser.add_argument("--timeout", type=float, default=2400.0, help="seconds per layout")
    parser.add_argument("--memory", default="4096", help="guest memory in MiB")
    parser.add_argument(
        "--shell",
        metavar="SCRIPT",
        help="run this bash script in each guest instead of the tests (from the checkout,"
        " the virtual environment first on PATH, /lane the layout's --out directory);"
        " shows its output, no table",
    )
    parser.add_argument(
        "tests",
        nargs="*",
        default=list(DEFAULT_TESTS),
        help="pytest paths, relative to the checkout (default: the runc, lxc and CNI"
        " conformance suites and the cgroup readers' tests)",
    )
    arguments = parser.parse_args(argv)
    unknown = set(arguments.layouts.split(",")) - set(LAYOUTS)
    if unknown:
        parser.error(f"--layouts: unknown {', '.join(sorted(unknown))} (known: v1, hybrid, v2)")
    return arguments


def _say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


class _Progress:
    """pytest's verbose lines: a count a minute, every line that is not a pass or a skip."""

    def __init__(self, layout: str) -> None:
        self.layout = layout
        self.counts: dict[str, int] = {}
        self.shown = time.monotonic()

    def __call__(self, line: str) -> None:
        outcome = next((w for w in line.split()[-3:] if w in _OUTCOMES), "")
        if not outcome or outcome in ("FAILED", "ERROR"):
            _say(line)
        if outcome:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            if time.monotonic() - self.shown > 60:
                self.shown = time.monotonic()
                said = ", ".join(f"{n} {o.lower()}" for o, n in sorted(self.counts.items()))
                _say(f"{self.layout}: {said} so far")


_OUTCOMES = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through boot(), which stops the guest


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    arguments = _arguments(argv)
    checkout = Path.cwd()
    _say("guest image: building or reusing the cached one (mmdebstrap, a few minutes at first)")
    disk = guest_disk()
    # Built here, read there: the image the systemd rich-container test imports,
    # and the static seccomp probe (the guest has no compiler).
    debian_rootfs_tar(SYSTEMD)
    with contextlib.suppress(Exception, pytest.skip.Exception):
        seccomp_probe()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pouch"
    shares = {"src": str(checkout), "cache": str(cache)}
    # The interpreter and its virtual environment, where they are not in the checkout.
    for tag, prefix in (("venv", sys.prefix), ("python", sys.base_prefix)):
        if not Path(prefix).is_relative_to(checkout) and not prefix.startswith("/usr"):
            shares[tag] = prefix
    accel = arguments.accel
    if accel == "auto":
        accel = "kvm" if kvm_boots(disk, arguments.out / "kvm-probe") else "tcg"
    _say(f"guest kernel {disk.release}, accelerator {accel}")
    results: dict[str, Counts] = {}
    facts: dict[str, dict[str, str]] = {}
    failed = []
    for layout in arguments.layouts.split(","):
        directory = arguments.out / layout
        run_tests = [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rfE"),
            *("--import-mode=importlib", "--junitxml=/lane/junit.xml", *arguments.tests),
            *(("-k", CORE) if arguments.subset == "core" else ()),
        ]
        job = Job(
            command=["bash", "-c", arguments.shell] if arguments.shell else run_tests,
            cwd=str(checkout),
            shares=shares,
            env={
                "PYTHONDONTWRITEBYTECODE": "1",
                "HOME": str(Path.home()),
                "PATH": f"{Path(sys.executable).parent}:/usr/local/sbin:/usr/local/bin:"
                "/usr/sbin:/usr/bin:/sbin:/bin",
            },
        )
        (directory / "junit.xml").unlink(missing_ok=True)
        _say(f"{layout}: booting ({LAYOUTS[layout]})")
        result = boot(
            disk, layout, directory, job, accel=accel, memory=arguments.memory,
            timeout=arguments.timeout, progress=_say if arguments.shell else _Progress(layout),
        )  # fmt: skip
        _say(f"{layout}: done in {result.seconds:.0f} s, exit {result.exit}")
        if arguments.shell:
            if result.exit != "0":
                failed.append(f"{layout}: the script ended with {result.exit}")
            continue
        results[layout], _ = read_junit(directory / "junit.xml")
        facts[layout] = result.facts
        if result.facts.get("layout") != layout:
            failed.append(f"{layout}: the guest came up as {result.facts.get('layout', 'nothing')}")
        if not results[layout]:
            failed.append(f"{layout}: no test results ({result.exit}); see {directory}")
    if arguments.shell:
        for problem in failed:
            print(f"FAILED: {problem}")
        return 1 if failed else 0
    report = table(results, facts)
    (arguments.out / "table.txt").write_text(report + "\n")
    print("\n" + report + "\n")
    problems = failed + consistent(results)
    for problem in problems:
        print(f"FAILED: {problem}")
    print("kernel lane: " + ("failed" if problems else "every layout passed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
