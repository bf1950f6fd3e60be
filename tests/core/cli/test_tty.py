"""``pouch run -it`` in a real terminal (a pty): a usable shell, resize, detach, restore.

They run on runc where the host can (root, runc, conmon): the process runtime
of ``pouch.testing`` has no terminals, so there they skip, saying why.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

import pytest

from pouch.testing.daemon import preferred_runtime

from .conftest import Pouch

pytestmark = pytest.mark.slow


@pytest.fixture
def pouch_runtime() -> str:
    return preferred_runtime()[0]


@pytest.fixture
def tty_cli(cli: Pouch, runtime_capabilities: set[str], pouch_runtime: str) -> Pouch:
    if "tty" not in runtime_capabilities or "attach" not in runtime_capabilities:
        pytest.skip(f"the {pouch_runtime} runtime has no tty/attach capability")
    return cli


class Terminal:
    """``pouch`` running on the slave side of a pty; the test types on the master."""

    def __init__(self, cli: Pouch, *args: str, rows: int = 30, cols: int = 100) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.execve(sys.executable, [sys.executable, "-m", "pouch", *args], cli.env)
        self.resize(rows, cols)
        self.output = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: bytes) -> None:
        os.write(self.fd, text)

    def expect(self, token: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while token not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.fd, 4096)
                except OSError:
                    break
        assert token in self.output, f"{token!r} not in {self.output[-600:]!r}"
        self.output = self.output[self.output.index(token) + len(token) :]

    def exit_status(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.fd, 4096)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"pouch did not exit; output: {self.output[-600:]!r}")

    def wait_raw(self, timeout: float = 20) -> None:
        """Until pouch has put the terminal in raw mode (typing earlier would echo locally)."""
        deadline = time.monotonic() + timeout
        while self.attributes()[3] & termios.ICANON:
            assert time.monotonic() < deadline, "pouch never put the terminal in raw mode"
            time.sleep(0.05)

    def attributes(self) -> list[int]:
        return termios.tcgetattr(self.fd)[:4]

    def close(self) -> None:
        os.close(self.fd)


def test_interactive_shell(tty_cli: Pouch) -> None:
    term = Terminal(tty_cli, "run", "-it", "--rm", "busybox", "sh", rows=33, cols=101)
    try:
        term.expect(b"# ")
        term.type(b"stty size; echo $((6 * 7))\r")
        term.expect(b"33 101")
        term.expect(b"42")
        term.resize(44, 132)  # SIGWINCH: pouch passes the new size on
        time.sleep(0.5)
        term.type(b"stty size\r")
        term.expect(b"44 132")
        term.type(b"exit 7\r")
        assert term.exit_status() == 7
        _, _, _, lflag = term.attributes()
        assert lflag & termios.ICANON and lflag & termios.ECHO, "terminal left in raw mode"
    finally:
        term.close()
    assert tty_cli.eventually(lambda: tty_cli.ok("ps", "-a", "-q") == "")  # --rm


def test_ctrl_p_ctrl_q_detaches_and_attach_comes_back(tty_cli: Pouch) -> None:
    term = Terminal(tty_cli, "run", "-it", "--name", "shell", "busybox", "sh")
    try:
        term.expect(b"# ")
        term.type(b"echo before\r")
        term.expect(b"before")
        term.type(b"\x10\x11")
        assert term.exit_status() == 0
    finally:
        term.close()
    assert tty_cli.ok("ps", "--format", "{{.Names}} {{.State}}") == "shell running\n"

    term = Terminal(tty_cli, "attach", "shell")
    try:
        term.wait_raw()
        term.type(b"echo again-$((1 + 1))\r")
        term.expect(b"again-2")
        term.type(b"exit 3\r")
        assert term.exit_status() == 3
    finally:
        term.close()
    tty_cli.ok("rm", "shell")


def test_exec_interactive(tty_cli: Pouch) -> None:
    tty_cli.ok("run", "-d", "--name", "host", "busybox", "sleep", "300")
    term = Terminal(tty_cli, "exec", "-it", "host", "sh", rows=25, cols=90)
    try:
        term.expect(b"# ")
        term.type(b"stty size; tty\r")
        term.expect(b"25 90")
        term.expect(b"/dev/pts/")
        term.type(b"exit 4\r")
        assert term.exit_status() == 4
    finally:
        term.close()
    tty_cli.ok("rm", "-f", "host")
