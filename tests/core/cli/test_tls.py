"""``-H tcp://…`` with ``--tlsverify``: pouchd's TCP listener needs TLS and a client certificate."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.binary("openssl")]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(where: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, signed by it."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=pouch-test-ca",
        cwd=where,
    )
    for name, subject, ext in (
        ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "/CN=client", "extendedKeyUsage=clientAuth\n"),
    ):
        (where / f"{name}.ext").write_text(ext)
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}-key.pem",
            "-out",
            f"{name}.csr",
            "-subj",
            subject,
            cwd=where,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            f"{name}-cert.pem",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            cwd=where,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tls_pouchd(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A pouchd (process runtime) on a unix socket and on TCP with mutual TLS."""
    make_certificates(tmp_path)
    run_root = Path(tempfile.mkdtemp(prefix="pouchd-tls-", dir="/tmp"))
    port = free_port()
    config = tmp_path / "pouchd.toml"
    config.write_text(
        f'root = "{tmp_path / "state"}"\nrun_root = "{run_root}"\n'
        'default_runtime = "process"\ndefault_network = "none"\ndiscover_plugins = false\n\n'
        f'[daemon]\nhosts = ["unix://{run_root}/pouchd.sock", "tcp://127.0.0.1:{port}"]\n'
        f'tls_verify = true\ntls_ca_cert = "{tmp_path}/ca.pem"\n'
        f'tls_cert = "{tmp_path}/server-cert.pem"\ntls_key = "{tmp_path}/server-key.pem"\n'
    )
    log = open(tmp_path / "pouchd.log", "wb")  # noqa: SIM115 - closed at teardown
    daemon = subprocess.Popen(
        [sys.executable, "-m", "pouch.testing._pouchd_launcher", "--config", str(config)],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run_root / "pouchd.sock").exists():
            assert daemon.poll() is None, (tmp_path / "pouchd.log").read_text()
            assert time.monotonic() < deadline, "pouchd did not start"
            time.sleep(0.05)
        time.sleep(0.2)
        yield f"tcp://127.0.0.1:{port}", tmp_path
    finally:
        os.kill(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=30)
        log.close()
        shutil.rmtree(run_root, ignore_errors=True)


def pouch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pouch", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_tls_with_client_certificate(tls_pouchd: tuple[str, Path]) -> None:
    host, certs = tls_pouchd
    flags = [
        "--tlsverify",
        "--tlscacert",
        f"{certs}/ca.pem",
        "--tlscert",
        f"{certs}/client-cert.pem",
        "--tlskey",
        f"{certs}/client-key.pem",
    ]
    done = pouch("-H", host, *flags, "version", "-f", "{{.Server.ApiVersion}}")
    assert (done.returncode, done.stdout) == (0, "1.41\n"), done.stderr
    done = pouch("-H", host, *flags, "ps", "-a", "-q")
    assert (done.returncode, done.stdout) == (0, ""), done.stderr


def test_cert_path_and_environment(tls_pouchd: tuple[str, Path], tmp_path: Path) -> None:
    host, certs = tls_pouchd
    conf = tmp_path / "client"
    conf.mkdir()
    for source, name in (
        ("ca.pem", "ca.pem"),
        ("client-cert.pem", "cert.pem"),
        ("client-key.pem", "key.pem"),
    ):
        (conf / name).write_bytes((certs / source).read_bytes())
    env = {"POUCH_HOST": host, "POUCH_TLS_VERIFY": "1", "POUCH_CERT_PATH": str(conf)}
    done = pouch("ps", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("CONTAINER ID")


def test_without_a_client_certificate_the_error_says_what_is_missing(
    tls_pouchd: tuple[str, Path],
) -> None:
    host, certs = tls_pouchd
    for flags in ([], ["--tlsverify", "--tlscacert", f"{certs}/ca.pem"]):
        done = pouch("-H", host, *flags, "ps")
        assert done.returncode == 1
        assert done.stderr.startswith("Error: ")
        assert "--tlscert" in done.stderr, done.stderr


def test_an_untrusted_server_is_refused(tls_pouchd: tuple[str, Path], tmp_path: Path) -> None:
    host, certs = tls_pouchd
    other = tmp_path / "other"
    other.mkdir()
    make_certificates(other)
    done = pouch(
        "-H",
        host,
        "--tlsverify",
        "--tlscacert",
        f"{other}/ca.pem",
        "--tlscert",
        f"{certs}/client-cert.pem",
        "--tlskey",
        f"{certs}/client-key.pem",
        "ps",
    )
    assert done.returncode == 1
    assert "certificate verify failed" in done.stderr, done.stderr
