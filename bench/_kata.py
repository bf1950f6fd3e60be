"""The kata rows: a VM per container beside runc, both under the same pouchd.

Start to exit (``run --rm --runtime kata busybox true``), the exec round trip
into a running container, and the host memory one container costs: for kata
its QEMU, virtiofsd and shim, for runc its conmon. Targets (reported, never
asserted): start to exit at most 2.0 s under TCG, exec at most 60 ms, at most
240 MiB per VM at the default memory.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Mapping
from typing import Any

from _measure import Variant
from _procs import BenchError, output, pids_matching, rss_mib, run, timed

__all__ = ["KATA_FIGURES", "kata_available", "kata_variants"]

KATA_FIGURES: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    (
        "kata_start",
        "kata: one container, start to exit (run --rm --network none busybox true)",
        "s",
        [("pouch kata", "pouch runc")],
    ),
    ("kata_exec", "kata: exec round trip (exec C true)", "s", [("pouch kata", "pouch runc")]),
    (
        "kata_rss",
        "kata: host memory per running container (QEMU + virtiofsd + shim; runc: conmon)",
        "MiB",
        [("pouch kata", "pouch runc")],
    ),
]

_RUNTIMES = {"pouch kata": "kata", "pouch runc": "runc"}


def kata_available(pouch: Any) -> bool:
    """Whether the pouchd under test has the kata runtime loaded."""
    try:
        info = json.loads(output([*pouch.cli, "info", "--format", "{{json .Runtimes}}"]))
    except (BenchError, ValueError):
        return False
    return isinstance(info, dict) and "kata" in info


def _vm_rss() -> list[float]:
    """Each VM's processes summed: QEMU, virtiofsd, the shim (all name its directory)."""
    per_vm: dict[str, float] = {}
    for program in ("qemu-system-x86_64", "virtiofsd", "python", "python3"):
        for pid in pids_matching(program, "/kata/vms/") + pids_matching(program, "pouch-kata/"):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace")
            marker = "/kata/vms/" if "/kata/vms/" in argv else "pouch-kata/"
            vm = argv.split(marker, 1)[1][:16]
            per_vm[vm] = per_vm.get(vm, 0.0) + rss_mib(pid)
    return list(per_vm.values())


def kata_variants(pouch: Any) -> list[Variant]:
    variants = []
    for label, runtime in _RUNTIMES.items():
        base = [*pouch.cli, "run", "--runtime", runtime]

        def start(base: list[str] = base) -> Mapping[str, float]:
            argv = [*base, "--rm", "--network", "none", pouch.image, "true"]
            return {"kata_start": timed(argv)}

        def exec_and_memory(base: list[str] = base, runtime: str = runtime) -> Mapping[str, float]:
            done = run([*base, "-d", "--network", "none", pouch.image, "sleep", "600"])
            cid = done.stdout.decode().strip()
            try:
                time.sleep(1.0)  # let the VM (or conmon) settle
                took = [timed([*pouch.cli, "exec", cid, "true"]) for _ in range(5)]
                if runtime == "kata":
                    rss = _vm_rss()
                else:
                    rss = [rss_mib(p) for p in pids_matching("conmon", cid)]
                if len(rss) != 1:
                    raise BenchError(f"{runtime}: found {len(rss)} monitors for one container")
            finally:
                run([*pouch.cli, "rm", "-f", cid], timeout=120)
            return {"kata_exec": statistics.median(took), "kata_rss": rss[0]}

        variants.append(Variant(label, start, ("kata_start",)))
        variants.append(Variant(label, exec_and_memory, ("kata_exec", "kata_rss")))
    return variants
