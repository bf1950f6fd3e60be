"""CSI volumes as a user gets them: ``pouch csi add``, the pouch CLI, the docker CLI, docker-py.

A real pouchd (runc containers) and a real ``pouch-csi-hostdir``: volumes are
sized ext4 images, so writing past the size fails with "No space left" on
any kernel. After each test nothing may stay mounted under pouchd's run root
or the driver's root, and no loop device may point into them.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from pouch_csi.testing import HostdirDriver

from pouch.testing.daemon import PouchDaemon

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
