"""``python -m pouch.testing.kernels``: boot each layout, run the suites, print the table."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

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


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pouch.testing.kernels",
        description="Run the conformance suites in Debian 12 guests booted with each cgroup "
        "layout (v1, hybrid, v2), and print a table of the results per layout.",
    )
    parser.add_argument(
        "--layouts", default="v1,hybrid,v2", help="comma-separated, from v1, hybrid, v2"
    )
    parser.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pouch-kernels"))
    parser.add_argument("--timeout", type=float, default=2400.0, help="seconds per layout")
    parser.add_argument("--memory", default="4096", help="guest memory in MiB")
    parser.add_argument("tests", nargs="*", default=list(DEFAULT_TESTS))
    arguments = parser.parse_args(argv)
    unknown = set(arguments.layouts.split(",")) - set(LAYOUTS)
    if unknown:
        parser.error(f"--layouts: unknown {', '.join(sorted(unknown))} (known: v1, hybrid, v2)")
    return arguments


def _say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    checkout = Path.cwd()
    _say("guest image: building or reusing the cached one (mmdebstrap, a few minutes at first)")
    disk = guest_disk()
    # The systemd rich-container test imports this image: built here, read there.
    debian_rootfs_tar(SYSTEMD)
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
        job = Job(
            command=[
                *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"),
                *("--import-mode=importlib", "--junitxml=/lane/junit.xml", *arguments.tests),
            ],
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
            timeout=arguments.timeout, progress=_say,
        )  # fmt: skip
        _say(f"{layout}: done in {result.seconds:.0f} s, pytest exit {result.exit}")
        results[layout], _ = read_junit(directory / "junit.xml")
        facts[layout] = result.facts
        if result.facts.get("layout") != layout:
            failed.append(f"{layout}: the guest came up as {result.facts.get('layout', 'nothing')}")
        if not results[layout]:
            failed.append(f"{layout}: no test results ({result.exit}); see {directory}")
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
