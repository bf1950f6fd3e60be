"""The host: what it is (for the results), and what the run must leave as it found it.

``describe`` gathers the facts a reader of the results needs: cores, CPU,
memory, kernel, cgroup mode, load, and each tool's version. ``private_mounts``
hides /run and /var/lib behind tmpfs in the runner's own mount namespace.
``Leftovers`` remembers the bridges and cgroups there were before the run and
removes, afterwards, only the new ones the run's engines made, with the CNI
firewall plugin's isolation rules that name a bridge it removes.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from _procs import BenchError, output

__all__ = ["Leftovers", "cgroup_mode", "describe", "private_mounts"]

TOOLS = {
    "podman": ["podman", "--version"],
    "containerd": ["containerd", "--version"],
    "ctr": ["ctr", "--version"],
    "runc": ["runc", "--version"],
    "crun": ["crun", "--version"],
    "conmon": ["conmon", "--version"],
    "skopeo": ["skopeo", "--version"],
    "umoci": ["umoci", "--version"],
    "docker-registry": ["docker-registry", "--version"],
}
DEBIAN = [
    "podman",
    "containerd",
    "runc",
    "conmon",
    "skopeo",
    "umoci",
    "docker-registry",
    "containernetworking-plugins",
    "busybox-static",
]
CGROUP = Path("/sys/fs/cgroup")
# The CNI firewall plugin's per-bridge rules (ingressPolicy same-bridge); CNI DEL leaves them.
ISOLATION_COMMENT = "CNI firewall plugin rules (ingressPolicy: same-bridge)"


def cgroup_mode() -> str:
    if (CGROUP / "cgroup.controllers").exists():
        return "v2 (unified)"
    if (CGROUP / "unified").is_dir() and any(
        line.split()[1:3] == ["/sys/fs/cgroup/unified", "cgroup2"]
        for line in Path("/proc/self/mounts").read_text().splitlines()
    ):
        return "hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"
    return "v1"


def _first(text: str) -> str:
    return text.splitlines()[0] if text else ""


def describe() -> dict[str, Any]:
    """Machine facts and tool versions (dpkg's too: read before /var/lib is hidden)."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        memory = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    release = ""
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                release = line.split("=", 1)[1].strip('"')
    versions: dict[str, str] = {}
    for name, command in TOOLS.items():
        if shutil.which(command[0]):
            with contextlib.suppress(BenchError):
                versions[name] = _first(output(command))
    packages: dict[str, str] = {}
    with contextlib.suppress(BenchError):
        listed = output(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *DEBIAN])
        packages = dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)
    return {
        "machine": {
            "cores": os.cpu_count(),
            "cpu": cpu,
            "memory": memory,
            "kernel": platform.release(),
            "os": release,
            "cgroup": cgroup_mode(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
        },
        "versions": versions,
        "debian_packages": packages,
    }


#: kept visible (read-only) through the tmpfs: the kata guest assets are built
#: once per machine, and the bench's pouchd finds them where pouchd looks.
KEPT = Path("/var/lib/pouch/kata/assets")


def private_mounts() -> None:
    """tmpfs over /run and /var/lib, in this process's private mount namespace only."""
    host = os.environ.get("POUCH_BENCH_HOST_NS", "")
    if not host or os.readlink("/proc/self/ns/mnt") == host:
        raise BenchError("not in the benchmark's private mount namespace; run bench/run")
    kept = os.open(KEPT, os.O_PATH | os.O_DIRECTORY) if KEPT.is_dir() else None
    for point in ("/run", "/var/lib"):
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "mode=0755", "pouch-bench", point],
            check=True,
            timeout=30,
        )
    if kept is not None:
        KEPT.mkdir(parents=True)
        source = f"/proc/{os.getpid()}/fd/{kept}"
        # --no-canonicalize: mount would resolve the fd's link to its path, now the tmpfs's.
        bind = ["--no-canonicalize", "--bind", source, str(KEPT)]
        for command in (bind, ["-o", "remount,bind,ro", str(KEPT)]):
            subprocess.run(["mount", *command], check=True, timeout=30, pass_fds=[kept])
        os.close(kept)


def _bridges() -> set[str]:
    return {path.name for path in Path("/sys/class/net").iterdir() if (path / "bridge").is_dir()}


def _cgroup_dirs() -> set[Path]:
    if not CGROUP.is_dir():
        return set()
    found = set()
    for hierarchy in CGROUP.iterdir():
        if hierarchy.is_dir() and not hierarchy.is_symlink():
            with contextlib.suppress(OSError):
                found |= {child for child in hierarchy.iterdir() if child.is_dir()}
    return found | {child for child in CGROUP.iterdir() if child.is_dir()}


def _drop_isolation_rules(bridge: str) -> bool:
    """Delete the firewall plugin's isolation rules of ``bridge``; whether there were any."""
    dropped = False
    comment = ["-m", "comment", "--comment", ISOLATION_COMMENT]
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool) is None:
            continue
        for chain, rule, target in (
            ("CNI-ISOLATION-STAGE-1", ["-i", bridge, "!", "-o", bridge], "CNI-ISOLATION-STAGE-2"),
            ("CNI-ISOLATION-STAGE-2", ["-o", bridge], "DROP"),
        ):
            command = [tool, "-w", "-t", "filter", "-D", chain, *rule, *comment, "-j", target]
            for _ in range(10):  # one per run that added it; bounded all the same
                if subprocess.run(command, capture_output=True, timeout=30).returncode != 0:
                    break
                dropped = True
    return dropped


class Leftovers:
    """Host objects made during the run that outlive its processes: bridges, cgroup dirs."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.bridges_before = _bridges()
        self.cgroups_before = _cgroup_dirs()

    def clean(self, bridges: set[str]) -> list[str]:
        """Delete the new ones among ``bridges`` (and their rules), our own new empty cgroups."""
        removed = []
        for name in sorted((_bridges() - self.bridges_before) & bridges):
            done = subprocess.run(["ip", "link", "delete", name], capture_output=True, timeout=30)
            if done.returncode == 0:
                removed.append(f"bridge {name}")
                if _drop_isolation_rules(name):
                    removed.append(f"the isolation rules of {name}")
        for path in sorted(_cgroup_dirs() - self.cgroups_before, key=lambda p: -len(p.parts)):
            if path.name.startswith(self.token) or path.name == "libpod_parent":
                for child in sorted(path.rglob("*"), key=lambda p: -len(p.parts)):
                    if child.is_dir():
                        with contextlib.suppress(OSError):
                            child.rmdir()
                with contextlib.suppress(OSError):
                    path.rmdir()
                    removed.append(f"cgroup {path}")
        return removed
