"""CSI volumes as a user gets them: ``pouch csi add``, the pouch CLI, the docker CLI, docker-py.

A real pouchd (runc containers) and a real ``pouch-csi-hostdir``: volumes are
sized ext4 images, so writing past the size fails with "No space left" on
any kernel. After each test nothing may stay mounted under pouchd's run root
or the driver's root, and no loop device may point into them.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pouch_csi.testing import HostdirDriver, unmount_under

from pouch.testing.daemon import PouchDaemon, stop_pouchd

from .conftest import pouch

pytestmark = [pytest.mark.root, pytest.mark.binary("runc", "conmon", "mkfs.ext4")]


@pytest.mark.usefixtures("clean")
def test_pouch_csi_add_then_two_containers_in_turn_and_the_size_holds(
    pouchd: PouchDaemon, pouchd_busybox: str, hostdir: HostdirDriver
) -> None:
    added = pouch(pouchd, "csi", "add", "hostdir", "--endpoint", hostdir.endpoint)
    assert added.stdout.startswith("hostdir: hostdir.csi.pouch.io"), added.stdout
    listed = pouch(pouchd, "csi", "ls", "--format", "json").stdout.splitlines()
    assert [json.loads(line)["Status"] for line in listed] == ["ready"]

    create = ["volume", "create", "--driver", "csi", "--opt", "driver=hostdir"]
    assert pouch(pouchd, *create, "--opt", "size=16MiB", "v1").stdout == "v1\n"
    taken = pouch(pouchd, "volume", "create", "v1", check=False)  # the local driver's, no
    assert taken.returncode == 1 and "already exists with driver csi" in taken.stderr
    pouch(pouchd, "run", "--rm", "-v", "v1:/data", "busybox", "sh", "-c", "echo hi > /data/f")
    assert (
        pouch(pouchd, "run", "--rm", "-v", "v1:/data", "busybox", "cat", "/data/f").stdout == "hi\n"
    )
    full = pouch(
        pouchd, "run", "--rm", "-v", "v1:/data", "busybox",
        "dd", "if=/dev/zero", "of=/data/big", "bs=1M", "count=40", check=False,
    )  # fmt: skip
    assert full.returncode != 0 and "No space left" in full.stderr, full

    [info] = json.loads(pouch(pouchd, "volume", "inspect", "v1").stdout)
    assert info["Driver"] == "csi"
    assert info["Status"]["capacity_bytes"] == str(16 << 20)
    assert info["Status"]["csi_driver"] == "hostdir" and info["Status"]["volume_id"]
    assert "staged" not in info["Status"]  # no container uses it: given back
    assert "v1" in pouch(pouchd, "volume", "ls", "--format", "{{.Name}} {{.Driver}}").stdout

    refused = pouch(pouchd, "csi", "rm", "hostdir", check=False)
    assert refused.returncode == 1 and "still has volumes (v1)" in refused.stderr
    pouch(pouchd, "volume", "rm", "v1")
    assert not list((hostdir.root / "volumes").glob("vol-*")), "the driver still has it"
    pouch(pouchd, "csi", "rm", "hostdir")
    gone = pouch(pouchd, *create, "v2", check=False)
    assert gone.returncode != 0 and "no CSI driver 'hostdir'" in gone.stderr


@pytest.mark.usefixtures("clean")
class TestConfigured:
    """The driver named in pouchd's config ([plugin.csi.drivers.hostdir]), no pouch csi add."""

    @pytest.fixture
    def pouchd_settings(self, hostdir: HostdirDriver) -> dict[str, object]:
        from .conftest import csi_settings

        return {"plugin": {"csi": csi_settings(hostdir)}}

    def test_the_docker_cli_and_docker_py(
        self, pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: tuple[str, dict[str, str]]
    ) -> None:
        binary, env = docker_cli

        def docker(*args: str) -> str:
            done = subprocess.run(
                [binary, *args], env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, (args, done.stderr)
            return done.stdout

        docker("volume", "create", "-d", "csi", "-o", "driver=hostdir", "-o", "size=16MiB", "v2")
        docker("run", "--rm", "-v", "v2:/data", "busybox", "sh", "-c", "echo docker > /data/f")
        assert docker("run", "--rm", "-v", "v2:/data:ro", "busybox", "cat", "/data/f") == "docker\n"
        template = '{{.Driver}} {{index .Status "capacity_bytes"}}'
        assert docker("volume", "inspect", "-f", template, "v2") == f"csi {16 << 20}\n"

        import docker as docker_py  # type: ignore[import-untyped]

        client = docker_py.DockerClient(base_url=pouchd.host)
        try:
            volume = client.volumes.create(
                name="v3", driver="csi", driver_opts={"driver": "hostdir", "size": "16MiB"}
            )
            assert volume.attrs["Status"]["capacity_bytes"] == str(16 << 20)
            output = client.containers.run(
                "busybox", ["sh", "-c", "echo py > /data/f; cat /data/f"],
                volumes={"v3": {"bind": "/data", "mode": "rw"}}, remove=True,
            )  # fmt: skip
            assert output == b"py\n"
            with pytest.raises(docker_py.errors.APIError) as refused:
                client.volumes.create(
                    name="v4", driver="csi", driver_opts={"size": "x", "driver": "hostdir"}
                )
            assert refused.value.status_code == 400 and "options.size" in str(refused.value)
            volume.remove()
        finally:
            client.close()
        docker("volume", "rm", "v2")
        assert docker("volume", "ls", "-q") == ""


def _df_total(pouchd: PouchDaemon, *args: str) -> int:
    out = pouch(pouchd, *args, "busybox", "df", "-k", "/data").stdout.splitlines()[-1]
    return int(out.split()[1]) * 1024


@pytest.mark.usefixtures("clean")
def test_snapshot_restore_and_grow(
    pouchd: PouchDaemon, pouchd_busybox: str, hostdir: HostdirDriver
) -> None:
    pouch(pouchd, "csi", "add", "hostdir", "--endpoint", hostdir.endpoint)
    create = ["volume", "create", "-d", "csi", "-o", "driver=hostdir"]
    pouch(pouchd, *create, "-o", "size=16MiB", "data")
    write = ["run", "--rm", "-v", "data:/data", "busybox", "sh", "-c"]
    pouch(pouchd, *write, "echo first > /data/f")
    snapshot = pouch(pouchd, "csi", "snapshot", "create", "data", "before").stdout.strip()
    assert snapshot.startswith("snap-"), snapshot
    pouch(pouchd, *write, "echo second > /data/f")
    assert snapshot in pouch(pouchd, "csi", "snapshot", "ls", "hostdir").stdout

    pouch(pouchd, *create, "-o", f"from-snapshot={snapshot}", "-o", "size=16MiB", "restored")
    read = ["run", "--rm", "-v", "restored:/data", "busybox", "cat", "/data/f"]
    assert pouch(pouchd, *read).stdout == "first\n"

    # Grown while no container uses it, then seen by the next one.
    assert _df_total(pouchd, "run", "--rm", "-v", "data:/data") < 16 << 20
    assert pouch(pouchd, "volume", "update", "--opt", "size=48MiB", "data").stdout == "data\n"
    [info] = json.loads(pouch(pouchd, "volume", "inspect", "data").stdout)
    assert info["Status"]["capacity_bytes"] == str(48 << 20)
    assert _df_total(pouchd, "run", "--rm", "-v", "data:/data") > 32 << 20
    assert pouch(pouchd, "run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f").stdout == (
        "second\n"
    )
    shrink = pouch(pouchd, "volume", "update", "--opt", "size=8MiB", "data", check=False)
    assert shrink.returncode == 1 and "never shrink" in shrink.stderr
    odd = pouch(pouchd, "volume", "update", "--opt", "fstype=xfs", "data", check=False)
    assert odd.returncode == 1 and "options.fstype" in odd.stderr

    # In use: grown at once where the driver grows mounted volumes, refused where it cannot.
    pouch(pouchd, "run", "-d", "--name", "user", "-v", "data:/data", "busybox", "sleep", "300")
    [used] = json.loads(pouch(pouchd, "volume", "inspect", "data").stdout)
    usage = used["Status"]["usage"]["bytes"]  # NodeGetVolumeStats, while in use
    assert 0 < int(usage["used"]) < int(usage["total"]) <= 48 << 20, usage
    online = pouch(pouchd, "volume", "update", "--opt", "size=64MiB", "data", check=False)
    if online.returncode == 0:
        df = pouch(pouchd, "exec", "user", "df", "-k", "/data").stdout.splitlines()[-1]
        assert int(df.split()[1]) * 1024 > 48 << 20
    else:
        assert "only while no container uses them" in online.stderr, online.stderr
    pouch(pouchd, "rm", "-f", "user")

    pouch(pouchd, "csi", "snapshot", "rm", "hostdir", snapshot)
    assert snapshot not in pouch(pouchd, "csi", "snapshot", "ls").stdout
    pouch(pouchd, "volume", "rm", "data", "restored")
    pouch(pouchd, *create.copy()[:2], "local-one")
    local = pouch(pouchd, "volume", "update", "--opt", "size=1g", "local-one", check=False)
    assert local.returncode == 1 and "cannot change a volume's options" in local.stderr
    pouch(pouchd, "volume", "rm", "local-one")


class TestStartedByPouchd:
    """A driver with a ``command`` in pouchd's config: pouchd runs it, and stops it."""

    @pytest.fixture
    def driver_dir(self, tmp_path: Path) -> Iterator[Path]:
        short = Path(tempfile.mkdtemp(prefix="pouch-csi-", dir="/tmp"))
        try:
            yield short
        finally:
            unmount_under(tmp_path / "driver-root")
            shutil.rmtree(short, ignore_errors=True)

    @pytest.fixture
    def pouchd_settings(self, tmp_path: Path, driver_dir: Path) -> dict[str, object]:
        endpoint = f"unix://{driver_dir}/driver.sock"
        command = [sys.executable, "-m", "pouch_csi.hostdir", "--endpoint", endpoint]
        command += ["--root", str(tmp_path / "driver-root")]
        drivers = {"hostdir": {"endpoint": endpoint, "command": command, "timeout": 20}}
        return {"plugin": {"csi": {"drivers": drivers, "retry_interval": 0.2}}}

    def test_pouchd_runs_the_driver_and_stops_it(
        self, pouchd: PouchDaemon, pouchd_busybox: str, driver_dir: Path
    ) -> None:
        socket = driver_dir / "driver.sock"
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pouch(pouchd, "volume", "create", "-d", "csi", "-o", "size=16MiB", "auto")
        run = ["run", "--rm", "-v", "auto:/data", "busybox", "sh", "-c", "echo ok > /data/f"]
        pouch(pouchd, *run)
        assert (pouchd.run_root / "csi" / "logs" / "hostdir.log").exists()
        pouch(pouchd, "volume", "rm", "auto")
        stop_pouchd(pouchd)
        assert not socket.exists(), "the driver pouchd started outlived it"


@pytest.mark.usefixtures("clean")
class TestSecrets:
    """A driver that wants secrets gets them from the driver's secrets file; nobody else does."""

    @pytest.fixture
    def secret(self, tmp_path: Path) -> tuple[Path, str]:
        value = "s3cr3t-" + secrets.token_hex(8)
        path = tmp_path / "hostdir.secrets"
        path.write_text(f"# for hostdir\ntoken={value}\n")
        return path, value

    @pytest.fixture
    def pouchd_settings(
        self, hostdir: HostdirDriver, secret: tuple[Path, str]
    ) -> dict[str, object]:
        from .conftest import csi_settings

        hostdir.kill()
        hostdir.flags = ("--secrets-file", str(secret[0]))
        hostdir.start()
        settings = csi_settings(hostdir)
        drivers = settings["drivers"]
        assert isinstance(drivers, dict)
        drivers["hostdir"]["secrets_file"] = str(secret[0])
        drivers["plain"] = {"endpoint": hostdir.endpoint}  # the same driver, no secrets
        return {"plugin": {"csi": settings}}

    def test_secrets_are_sent_and_never_written(
        self,
        pouchd: PouchDaemon,
        pouchd_busybox: str,
        hostdir: HostdirDriver,
        secret: tuple[Path, str],
    ) -> None:
        create = ["volume", "create", "-d", "csi", "-o", "size=16MiB"]
        pouch(pouchd, *create, "-o", "driver=hostdir", "guarded")
        pouch(pouchd, "run", "--rm", "-v", "guarded:/data", "busybox", "touch", "/data/f")
        refused = pouch(pouchd, *create, "-o", "driver=plain", "open", check=False)
        assert refused.returncode == 1
        assert "csi driver plain: CreateVolume: PERMISSION_DENIED" in refused.stderr
        pouch(pouchd, "volume", "rm", "guarded")
        value = secret[1].encode()
        assert value not in pouchd.log().encode() and value not in hostdir.log().encode()
        written = [p for p in pouchd.root.rglob("*") if p.is_file() and value in p.read_bytes()]
        assert written == []


@pytest.mark.usefixtures("clean")
def test_a_driver_without_controller_serves_volumes_named_by_id(
    pouchd: PouchDaemon, pouchd_busybox: str, hostdir: HostdirDriver
) -> None:
    # A volume made beforehand (by the driver's own controller), then the driver
    # runs node-only: pouch can only name it.
    pouch(pouchd, "csi", "add", "hostdir", "--endpoint", hostdir.endpoint)
    pouch(pouchd, "volume", "create", "-d", "csi", "-o", "size=16MiB", "made")
    [info] = json.loads(pouch(pouchd, "volume", "inspect", "made").stdout)
    volume_id = info["Status"]["volume_id"]
    hostdir.stop()
    hostdir.flags = ("--no-controller",)
    hostdir.start()

    refused = pouch(pouchd, "volume", "create", "-d", "csi", "-o", "size=16MiB", "new", check=False)
    assert refused.returncode == 1 and "has no Controller service" in refused.stderr
    assert "options.volume-id" in refused.stderr
    pouch(pouchd, "volume", "create", "-d", "csi", "-o", f"volume-id={volume_id}", "named")
    run = ["run", "--rm", "-v", "named:/data", "busybox", "sh", "-c"]
    pouch(pouchd, *run, "echo static > /data/f")
    assert pouch(pouchd, *run, "cat /data/f").stdout == "static\n"
    pouch(pouchd, "volume", "rm", "named")  # pouch did not make it: the driver keeps it
    assert (hostdir.root / "volumes" / volume_id / "volume.json").exists()
