"""``pouchd -G/--group``: who may reach the API socket, and a group that does not exist."""

from __future__ import annotations

import contextlib
import grp
import json
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pouch.testing.daemon import PouchDaemon, stop_pouchd

# The venv's interpreter may sit where an unprivileged user cannot run it.
_SYSTEM_PYTHON = "/usr/bin/python3"

# Run as another user: connect to the socket, send GET /_ping, print the HTTP
# status code, or "denied" when the socket refuses the caller.
_PING = """
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(20)
try:
    sock.connect(sys.argv[1])
except PermissionError:
    print("denied")
    sys.exit(0)
sock.sendall(b"GET /_ping HTTP/1.1\\r\\nHost: pouchd\\r\\nConnection: close\\r\\n\\r\\n")
answer = b""
while len(answer) < 65536:
    chunk = sock.recv(4096)
    if not chunk:
        break
    answer += chunk
print(answer.split(b" ", 2)[1].decode())
"""


def _config(daemon: PouchDaemon, socket_group: str | None) -> None:
    hooks = daemon.root.parent / "hooks.d"
    lines = [
        f"root = {json.dumps(str(daemon.root))}",
        f"run_root = {json.dumps(str(daemon.run_root))}",
        'default_runtime = "process"',
        'default_network = "none"',
        "discover_plugins = false",
        f"hooks_dirs = [{json.dumps(str(hooks))}]",
        "",
        "[daemon]",
        f"hosts = [{json.dumps(daemon.host)}]",
    ]
    if socket_group is not None:
        lines.append(f"socket_group = {json.dumps(socket_group)}")
    daemon.config_path.write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def _serving(work: Path, *flags: str, socket_group: str | None = None) -> Iterator[PouchDaemon]:
    """pouchd (process runtime) with ``socket_group`` in its file and ``flags``;
    its socket's directory is open to all, so only the socket's own mode decides."""
    run_root = Path(tempfile.mkdtemp(prefix="pouchd-", dir="/tmp"))
    run_root.chmod(0o711)
    work.mkdir(parents=True, exist_ok=True)
    daemon = PouchDaemon(root=work / "state", run_root=run_root, config_path=work / "pouchd.toml",
                         runtime="process", log_path=work / "pouchd.log")  # fmt: skip
    _config(daemon, socket_group)
    try:
        with open(daemon.log_path, "ab") as log:
            daemon.process = subprocess.Popen(
                [sys.executable, "-m", "pouch.testing._pouchd_launcher",
                 "--config", str(daemon.config_path), *flags],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not daemon.answers():
            if daemon.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pouchd did not start:\n{daemon.log()[-4000:]}")
            time.sleep(0.05)
        yield daemon
    finally:
        status = stop_pouchd(daemon)
        shutil.rmtree(run_root, ignore_errors=True)
    assert status == 0, daemon.log()[-4000:]


def _ping_as_nobody(daemon: PouchDaemon, extra_groups: list[int]) -> str:
    done = subprocess.run(
        [_SYSTEM_PYTHON, "-I", "-c", _PING, str(daemon.socket)],
        user="nobody",
        group="nogroup",
        extra_groups=extra_groups,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _owner(daemon: PouchDaemon) -> tuple[int, int, int]:
    """The socket's (uid, gid, permission bits)."""
    info = daemon.socket.stat()
    assert stat.S_ISSOCK(info.st_mode)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def _unused_group_name() -> str:
    for _ in range(10):
        name = f"pouchtest{secrets.token_hex(4)}"
        try:
            grp.getgrnam(name)
        except KeyError:
            return name
    raise AssertionError("no unused group name found")


@pytest.fixture
def socket_group() -> Iterator[tuple[str, int]]:
    """A system group made for the test: (name, gid); removed after it."""
    if shutil.which("groupadd") is None or shutil.which("groupdel") is None:
        pytest.skip("needs groupadd and groupdel (passwd)")
    if not Path(_SYSTEM_PYTHON).exists():
        pytest.skip(f"needs {_SYSTEM_PYTHON} to connect as another user")
    name = _unused_group_name()
    subprocess.run(["groupadd", "--system", name], check=True, capture_output=True, timeout=60)
    try:
        yield name, grp.getgrnam(name).gr_gid
    finally:
        subprocess.run(["groupdel", name], check=False, capture_output=True, timeout=60)


@pytest.mark.root
def test_by_default_the_socket_is_roots(tmp_path: Path) -> None:
    if not Path(_SYSTEM_PYTHON).exists():
        pytest.skip(f"needs {_SYSTEM_PYTHON} to connect as another user")
    try:
        expected_gid = grp.getgrnam("pouch").gr_gid  # the default group, where it exists
    except KeyError:
        expected_gid = 0
    with _serving(tmp_path / "d") as daemon:
        assert _owner(daemon) == (0, expected_gid, 0o660)
        assert _ping_as_nobody(daemon, []) == "denied"


@pytest.mark.root
def test_the_group_can_use_the_socket_and_others_cannot(
    tmp_path: Path, socket_group: tuple[str, int]
) -> None:
    name, gid = socket_group
    with _serving(tmp_path / "d", "-G", name) as daemon:
        assert _owner(daemon) == (0, gid, 0o660)
        assert _ping_as_nobody(daemon, [gid]) == "200"
        assert _ping_as_nobody(daemon, []) == "denied"


@pytest.mark.root
def test_the_file_names_the_group_and_the_flag_overrides_it(
    tmp_path: Path, socket_group: tuple[str, int]
) -> None:
    name, gid = socket_group
    with _serving(tmp_path / "file", socket_group=name) as daemon:
        assert _owner(daemon) == (0, gid, 0o660)
    with _serving(tmp_path / "flag", "--group", "", socket_group=name) as daemon:
        assert _owner(daemon) == (0, 0, 0o660)
    with _serving(tmp_path / "gid", "-G", str(gid)) as daemon:
        assert _owner(daemon) == (0, gid, 0o660)


def test_an_unknown_group_stops_pouchd_at_start(tmp_path: Path) -> None:
    name = _unused_group_name()
    run_root = tmp_path / "run"
    socket_path = run_root / "pouchd.sock"
    common = ["--root", str(tmp_path / "state"), "--run-root", str(run_root),
              "-H", f"unix://{socket_path}"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "pouch.daemon.main", *common, "-G", name],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert f"-G/--group: no such group {name!r}" in done.stderr
    assert "Traceback" not in done.stderr and not socket_path.exists()
    config = tmp_path / "pouchd.toml"
    config.write_text(f"[daemon]\nsocket_group = {json.dumps(name)}\n")
    done = subprocess.run(
        [sys.executable, "-m", "pouch.daemon.main", "--config", str(config), *common],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"[daemon] socket_group: no such group {name!r}" in done.stderr
    assert "Traceback" not in done.stderr and not socket_path.exists()
