"""One QEMU ``microvm``: its command line, its start, its ready marker, its stop.

QEMU runs daemonized with a pidfile and a QMP socket, so a VM outlives the
process that started it; everything it needs lives in one directory (pidfile,
QMP and agent sockets, console log), and ``MicroVM.stop`` removes all of it.
The PID is only ever signalled after checking, in ``/proc``, that it is still
the QEMU started with this VM's pidfile. This module knows nothing of
containers: the runtime driver builds on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ._guest_init import AGENT_PORT, READY_MARKER

# The tap device QEMU opens in the sandbox's network namespace (see _network).
TAP = "pouch-tap0"

__all__ = ["SHARE_TAG", "BootError", "MicroVM", "VMSpec", "kernel_cmdline", "qemu_argv", "qmp"]

# A unix socket path must fit sockaddr_un.sun_path (108 bytes with the NUL).
_SUN_PATH_MAX = 107
# How long the agent port may lag the console before the console's word is taken.
_PORT_GRACE = 1.0


class BootError(Exception):
    """The VM did not start or did not reach the marker; the message has the console's tail."""


@dataclass(frozen=True)
class VMSpec:
    vmlinux: Path
    initramfs: Path
    accel: str = "tcg"
    memory_mib: int = 128
    cpus: int = 1
    tsc_khz: int | None = None
    console: str = "ttyS0"
    extra_cmdline: tuple[str, ...] = field(default_factory=tuple)
    # A virtiofsd socket: its directory is shared into the guest as tag ``pouch``
    # (the guest's memory then lives in a shared memfd, as vhost-user needs).
    share_socket: Path | None = None
    # A network namespace to start QEMU in, and the MAC of the guest's card
    # behind the tap made there (``_network``); none without a MAC.
    netns: str = ""
    mac: str = ""


def kernel_cmdline(spec: VMSpec) -> str:
    args = [f"console={spec.console}"]
    if spec.tsc_khz:
        # Without it about a quarter of TCG boots hang calibrating the TSC.
        args.append(f"tsc_early_khz={spec.tsc_khz}")
    # microvm has no PCI bus: pci=off spares the kernel a search and an error line.
    # cryptomgr.notests: the crypto self-tests cost about 0.4 s of a TCG boot.
    args += ["tsc=reliable", "no_timer_check", "pci=off", "cryptomgr.notests"]
    args += ["panic=-1", "reboot=t", "quiet"]
    args += spec.extra_cmdline
    return " ".join(args)


@dataclass(frozen=True)
class VMFiles:
    directory: Path

    @property
    def pidfile(self) -> Path:
        return self.directory / "qemu.pid"

    @property
    def qmp(self) -> Path:
        return self.directory / "qmp.sock"

    @property
    def agent(self) -> Path:
        return self.directory / "agent.sock"

    @property
    def console(self) -> Path:
        return self.directory / "console.log"

    @property
    def stderr(self) -> Path:
        return self.directory / "qemu.log"

    def all(self) -> tuple[Path, ...]:
        return (self.pidfile, self.qmp, self.agent, self.console, self.stderr)


SHARE_TAG = "pouch"


def _share_args(spec: VMSpec, files: VMFiles) -> tuple[str, list[str]]:
    """(the machine option, the arguments) that connect virtiofsd's socket
    (``spec.share_socket``, relative to the VM's directory) as the share."""
    if spec.share_socket is None:
        return "microvm", []
    socket_path = files.directory / spec.share_socket
    return "microvm,memory-backend=mem", [
        "-object",
        f"memory-backend-memfd,id=mem,size={spec.memory_mib}M,share=on",
        "-chardev",
        f"socket,id=share,path={socket_path}",
        "-device",
        f"vhost-user-fs-device,chardev=share,tag={SHARE_TAG}",
    ]


def qemu_argv(program: str, spec: VMSpec, files: VMFiles) -> list[str]:
    """The full QEMU command line for ``spec`` with its files under ``files``."""
    accel = (
        ["-accel", "kvm", "-cpu", "host"]
        if spec.accel == "kvm"
        # TCG's translation cache in MiB: QEMU's default (1 GiB) grows each VM's RSS.
        else ["-accel", "tcg,tb-size=32", "-cpu", "max"]
    )
    machine, share = _share_args(spec, files)
    network: list[str] = []
    if spec.mac:
        network = [
            "-netdev",
            f"tap,id=net0,ifname={TAP},script=no,downscript=no",
            "-device",
            f"virtio-net-device,netdev=net0,mac={spec.mac}",
        ]
    enter = ["nsenter", f"--net={spec.netns}"] if spec.netns else []
    return [
        *enter,
        program,
        "-M",
        machine,
        *accel,
        "-m",
        f"{spec.memory_mib}M",
        "-smp",
        str(spec.cpus),
        "-nodefaults",
        "-no-user-config",
        "-no-reboot",
        # -nographic refuses -daemonize; -display none is the same without a terminal.
        "-display",
        "none",
        "-kernel",
        str(spec.vmlinux),
        "-initrd",
        str(spec.initramfs),
        "-append",
        kernel_cmdline(spec),
        # virtiofsd aborts on a legacy (virtio 0.9) mmio transport.
        "-global",
        "virtio-mmio.force-legacy=false",
        "-serial",
        f"file:{files.console}",
        "-device",
        "virtio-serial-device",
        "-chardev",
        f"socket,id=agent,path={files.agent},server=on,wait=off",
        "-device",
        f"virtserialport,chardev=agent,name={AGENT_PORT}",
        *share,
        *network,
        "-qmp",
        f"unix:{files.qmp},server=on,wait=off",
        "-pidfile",
        str(files.pidfile),
        "-daemonize",
    ]


def qmp(path: Path, command: str, timeout: float = 5.0) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        reader = sock.makefile("rb")
        reader.readline()  # the greeting
        for execute in ("qmp_capabilities", command):
            sock.sendall(json.dumps({"execute": execute}).encode() + b"\n")
            reader.readline()


class MicroVM:
    """A microvm whose files live in ``directory`` (created and removed here)."""

    def __init__(self, spec: VMSpec, directory: Path, program: str = "qemu-system-x86_64") -> None:
        self.spec = spec
        self.files = VMFiles(directory)
        self.program = program
        self.pid: int | None = None
        self.started_at = 0.0
        self._agent: socket.socket | None = None
        self._made_dir = False
        # Where the ready marker was read: "agent" (the virtio-serial port) or "console".
        self.ready_source = ""

    def argv(self) -> list[str]:
        return qemu_argv(self.program, self.spec, self.files)

    def start(self, timeout: float = 30.0) -> int:
        """Start QEMU; its PID once it has daemonized and written the pidfile."""
        for sock in (self.files.qmp, self.files.agent):
            if len(str(sock)) > _SUN_PATH_MAX:
                raise BootError(f"socket path too long for a unix socket: {sock}")
        if not self.files.directory.exists():
            self.files.directory.mkdir(parents=True)
            self._made_dir = True
        self.started_at = time.monotonic()
        with self.files.stderr.open("wb") as err:
            try:
                done = subprocess.run(
                    self.argv(),
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    timeout=timeout,
                    check=False,
                )
            except FileNotFoundError:
                raise BootError(f"{self.program} not found") from None
        try:
            self.pid = int(self.files.pidfile.read_text().strip())
        except (OSError, ValueError):
            self.pid = None
        if done.returncode != 0 or self.pid is None:
            message = self.files.stderr.read_text(errors="replace").strip()
            self.stop()
            raise BootError(f"qemu failed to start (exit {done.returncode}): {message[-800:]}")
        return self.pid

    def adopt(self) -> bool:
        """Find the QEMU of an earlier start by its pidfile; whether it still runs."""
        try:
            self.pid = int(self.files.pidfile.read_text().strip())
        except (OSError, ValueError):
            self.pid = None
        return self.alive()

    def alive(self) -> bool:
        """Whether our QEMU still runs: the PID is there and is the one with our pidfile."""
        if self.pid is None:
            return False
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
            status = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        if status.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
        return str(self.files.pidfile).encode() in cmdline.split(b"\0")

    def console_text(self) -> str:
        try:
            return self.files.console.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 30.0) -> tuple[str, float]:
        """Wait for the guest's marker on the agent port; the line and seconds since start.

        The port's one connection is closed again before this returns, for the
        agent's client to make its own.
        """
        try:
            return self._wait_ready(timeout)
        finally:
            if self._agent is not None:
                self._agent.close()
                self._agent = None

    def _wait_ready(self, timeout: float) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        buffer = b""
        console_seen: float | None = None
        while time.monotonic() < deadline:
            if self._agent is None:
                self._agent = self._connect_agent()
            if self._agent is not None:
                self._agent.settimeout(0.05)
                try:
                    chunk = self._agent.recv(4096)
                except OSError:  # a timeout included
                    chunk = b""
                buffer += chunk
                for line in buffer.decode(errors="replace").splitlines():
                    if line.startswith(READY_MARKER):
                        self.ready_source = "agent"
                        return line.strip(), time.monotonic() - self.started_at
            # The console says it too, a moment earlier; it counts when the port stays
            # silent (no agent connection, or a guest that does not write there).
            if console_seen is None and any(
                line.startswith(READY_MARKER) for line in self.console_text().splitlines()
            ):
                console_seen = time.monotonic()
            alive = self.alive()
            if console_seen is not None and (
                self._agent is None or not alive or time.monotonic() - console_seen > _PORT_GRACE
            ):
                line = next(
                    line
                    for line in self.console_text().splitlines()
                    if line.startswith(READY_MARKER)
                )
                self.ready_source = "console"
                return line.strip(), console_seen - self.started_at
            if not alive:
                break
            time.sleep(0.02)
        state = "running" if self.alive() else "exited"
        tail = "\n".join(self.console_text().splitlines()[-15:])
        raise BootError(
            f"the guest did not reach its ready marker within {timeout:g} s (qemu {state})"
            f"\nconsole:\n{tail}"
        )

    def _connect_agent(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.files.agent))
        except OSError:
            sock.close()
            return None
        return sock

    def stop(self, timeout: float = 5.0) -> None:
        """Quit QEMU (QMP, then SIGTERM, then SIGKILL) and remove every file of the VM."""
        if self._agent is not None:
            self._agent.close()
            self._agent = None
        if self.alive():
            with contextlib.suppress(OSError):
                qmp(self.files.qmp, "quit", timeout=min(timeout, 2.0))
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None and self.alive() and self.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.pid, sig)
                deadline = time.monotonic() + timeout
                while self.alive() and time.monotonic() < deadline:
                    time.sleep(0.02)
                if not self.alive():
                    break
        for path in self.files.all():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if self._made_dir:
            with contextlib.suppress(OSError):
                self.files.directory.rmdir()
