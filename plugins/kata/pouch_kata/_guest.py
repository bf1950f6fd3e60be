"""One container's VM on the host: its directory, its boot, its teardown.

Everything of a VM lives in one directory under the run root: the shared
directory (``shared/rootfs`` is the container's root filesystem, mounted
here and shared into the guest by virtiofsd), virtiofsd's and QEMU's sockets
and pidfiles, the console log, ``meta.json`` (what a restarted engine needs)
and, once the container's process has ended, ``exit.json``. ``teardown``
ends the processes and unmounts; ``remove`` also deletes the directory. Both
are safe to repeat and to call on a half-made VM.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec

from pouch import oci
from pouch.drivers import ExitStatus, Mount
from pouch.mounts import is_mountpoint, mount_all, unmount

from ._agent_protocol import GuestMount
from ._network import unplumb
from ._qemu import MicroVM, VMSpec
from ._virtiofsd import Virtiofsd, live_pid

__all__ = ["GUEST_ROOTFS", "SHIM_SOCKET", "GuestDir", "Meta", "state_root"]

#: where the agent mounts the share, and so sees the container's root filesystem.
GUEST_SHARE = "/run/pouch/shared"
GUEST_ROOTFS = f"{GUEST_SHARE}/rootfs"
#: the shim's socket in the VM's directory (``pouch_kata.shim``).
SHIM_SOCKET = "shim.sock"

_T = TypeVar("_T")

# Room left for "<id>/agent.sock" within a unix socket path (107 bytes).
_SOCKET_ROOM = 107 - 30


def state_root(run_root: Path) -> Path:
    """The VMs' directory: under the run root, or (when that path is too long for
    their sockets) a short one named after it."""
    root = run_root / "kata" / "vms"
    if len(str(root)) <= _SOCKET_ROOM:
        return root
    digest = hashlib.sha256(str(run_root).encode()).hexdigest()[:12]
    return Path("/run/pouch-kata") / digest


class Meta(msgspec.Struct, kw_only=True):
    container_id: str
    log_path: str
    log_max_size: int = 0
    log_max_files: int = 1
    started: bool = False
    netns: str = ""  # where the tap was made, to be removed


@dataclass(frozen=True)
class GuestDir:
    path: Path
    container_id: str

    @classmethod
    def of(cls, root: Path, container_id: str) -> GuestDir:
        if "/" in container_id or container_id in ("", ".", ".."):
            raise ValueError(f"not a container id: {container_id!r}")
        return cls(root / container_id[:16], container_id)

    @property
    def shared(self) -> Path:
        return self.path / "shared"

    @property
    def rootfs(self) -> Path:
        return self.shared / "rootfs"

    @property
    def virtiofsd(self) -> Virtiofsd:
        return Virtiofsd(self.shared, self.path / "fs.sock")

    def vm(self, spec: VMSpec, program: str) -> MicroVM:
        return MicroVM(spec, self.path, program)

    # -- records ------------------------------------------------------------------

    def _write(self, name: str, value: object) -> None:
        tmp = self.path / f"{name}.tmp"
        tmp.write_bytes(msgspec.json.encode(value))
        tmp.replace(self.path / name)

    def _read(self, name: str, kind: type[_T]) -> _T | None:
        with contextlib.suppress(OSError, msgspec.DecodeError):
            return msgspec.json.decode((self.path / name).read_bytes(), type=kind)
        return None

    def write_meta(self, meta: Meta) -> None:
        self._write("meta.json", meta)

    def meta(self) -> Meta | None:
        return self._read("meta.json", Meta)

    def write_exit(self, code: int, *, oom: bool = False, error: str = "") -> None:
        status = ExitStatus(exit_code=code, finished_at=time.time(), oom_killed=oom, error=error)
        self._write("exit.json", status)

    def write_lost(self, code: int) -> None:
        """The VM went before its container's process said it exited."""
        said = self.console_lines()
        # The panic line says most; else the last thing the guest said.
        last = next((line for line in said if "Kernel panic" in line), said[-1] if said else "")
        why = f" (guest console: {last.strip()})" if last else ""
        self.write_exit(code, error=f"the VM stopped before the container's process exited{why}")

    def console_lines(self) -> list[str]:
        """What the guest's console said, blank lines left out."""
        try:
            text = (self.path / "console.log").read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    def console_tail(self, lines: int = 12) -> str:
        """The end of the guest's console, to go with an error ("" when it said nothing)."""
        said = self.console_lines()
        tail = said[-lines:]
        panic = [line for line in said if "Kernel panic" in line and line not in tail]
        return "\nguest console:\n" + "\n".join(panic[:1] + tail) if tail else ""

    def exit(self) -> ExitStatus | None:
        return self._read("exit.json", ExitStatus)

    @property
    def paused_flag(self) -> Path:
        return self.path / "paused"

    @property
    def seccomp(self) -> Path:
        """The container's seccomp filter as BPF (empty: none), for its execs."""
        return self.path / "seccomp.bpf"

    # -- making and unmaking ---------------------------------------------------------

    def prepare(self, rootfs: list[Mount], meta: Meta) -> None:
        """The directory, the meta record and the root filesystem mounted for sharing."""
        self.path.mkdir(parents=True, exist_ok=False)
        self.write_meta(meta)
        self.rootfs.mkdir(parents=True)
        mount_all(rootfs, self.rootfs)

    @property
    def _binds(self) -> Path:
        return self.shared / "mounts"

    def share_mounts(self, mounts: list[oci.Mount]) -> list[GuestMount]:
        """The spec's mounts as the guest makes them: each bind's source (a file
        or a directory: a volume, /etc/hosts …) is bound into the share first."""
        shared: list[GuestMount] = []
        for mount in mounts:
            is_bind = mount.type == "bind" or {"bind", "rbind"} & set(mount.options)
            if not is_bind:
                if mount.type == "tmpfs":
                    shared.append(GuestMount(destination=mount.destination, type="tmpfs",
                                             options=list(mount.options)))  # fmt: skip
                elif mount.type == "cgroup" and "rw" in mount.options:
                    # The agent binds the container's own cgroup; writable only so
                    # (an init that manages cgroups: a systemd rich container).
                    shared.append(GuestMount(destination=mount.destination, type="cgroup",
                                             options=["rw"]))  # fmt: skip
                continue  # proc, sysfs, devpts, mqueue, cgroup: the agent makes its own
            source = Path(mount.source)
            spot = self._binds / str(len(shared))
            spot.parent.mkdir(exist_ok=True)
            if source.is_dir():
                spot.mkdir()
            else:
                spot.touch()
            mount_all([Mount(type="bind", source=str(source), options=["rbind"])], spot)
            guest_source = f"{GUEST_SHARE}/mounts/{spot.name}"
            options = ["rbind", *(["ro"] if "ro" in mount.options else [])]
            shared.append(GuestMount(destination=mount.destination, type="bind",
                                     source=guest_source, options=options))  # fmt: skip
        return shared

    def start_shim(self, timeout: float = 10.0) -> int:
        """Start the VM's monitor (``pouch_kata.shim``); its PID once it listens."""
        with (self.path / "shim.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pouch_kata.shim", str(self.path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not (self.path / SHIM_SOCKET).exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                message = (self.path / "shim.log").read_text(errors="replace").strip()
                raise RuntimeError(f"the VM's shim did not start: {message[-400:] or 'no output'}")
            time.sleep(0.01)
        return proc.pid

    def shim_alive(self) -> bool:
        return live_pid(self.path / "shim.pid", str(self.path)) is not None

    def _stop_shim(self) -> None:
        pid = live_pid(self.path / "shim.pid", str(self.path))
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def teardown(self, spec: VMSpec, program: str) -> None:
        """End QEMU, virtiofsd and the shim, unmount; keep the records."""
        self._stop_shim()
        vm = self.vm(spec, program)
        vm.adopt()
        vm.stop(timeout=2.0)
        self.virtiofsd.stop()
        meta = self.meta()
        if meta is not None and meta.netns:
            unplumb(meta.netns)
        if self._binds.is_dir():
            for spot in self._binds.iterdir():
                unmount(spot)
        if self.rootfs.exists() and is_mountpoint(self.rootfs):
            unmount(self.rootfs)
        self.paused_flag.unlink(missing_ok=True)

    def remove(self, spec: VMSpec, program: str) -> None:
        if not self.path.exists():
            return
        self.teardown(spec, program)
        spots = list(self._binds.iterdir()) if self._binds.is_dir() else []
        if any(is_mountpoint(path) for path in [self.rootfs, *spots] if path.exists()):
            return  # never delete through a mount that would not go
        shutil.rmtree(self.path, ignore_errors=True)
