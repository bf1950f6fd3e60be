"""``docker run`` flags that share with the host or other containers, with real clients.

Namespaces (--pid, --ipc, --uts, --cgroupns), devices, /dev/shm, groups,
/etc/hosts and resolv.conf, swappiness, the none log driver, --volumes-from
and legacy links — each as a user of the docker CLI (or docker-py) sees it,
against one pouchd on runc shared by the module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pouch.oci import detect_cgroup_version
from pouch.testing.daemon import (
    DEBIAN_DOCKER,
    PouchDaemon,
    import_busybox_api,
    preferred_runtime,
    running_pouchd,
)

RUNTIME, NO_RUNC = preferred_runtime()
pytestmark = pytest.mark.skipif(RUNTIME != "runc", reason=f"needs real containers: {NO_RUNC}")

Cli = tuple[str, dict[str, str]]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PouchDaemon]:
    from pouch.testing.images import busybox_rootfs_tar

    with running_pouchd(tmp_path_factory.mktemp("runflags"), runtime=RUNTIME) as pouchd:
        import_busybox_api(pouchd, busybox_rootfs_tar(tmp_path_factory.mktemp("img")))
        yield pouchd


@pytest.fixture(scope="module")
def cli(daemon: PouchDaemon) -> Cli:
    if not DEBIAN_DOCKER.exists():
        pytest.skip("needs the docker CLI (apt-get install docker.io)")
    config = Path(daemon.root).parent / "docker-config"
    config.mkdir(exist_ok=True)
    env = {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_CONFIG": str(config)}
    env.pop("DOCKER_CONTEXT", None)
    return str(DEBIAN_DOCKER), env


@pytest.fixture
def names(cli: Cli) -> Iterator[list[str]]:
    """Containers (and networks, prefixed ``net:``) a test made, removed after it."""
    made: list[str] = []
    yield made
    for name in reversed(made):
        if name.startswith("net:"):
            docker(cli, "network", "rm", name[4:], check=False)
        else:
            docker(cli, "rm", "-f", "-v", name, check=False)


def docker(cli: Cli, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary, env = cli
    done = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


def background(cli: Cli, names: list[str], name: str, *args: str) -> None:
    """``docker run -d --name NAME ARGS…``, waited for until it runs."""
    names.append(name)
    docker(cli, "run", "-d", "--name", name, *args)
    deadline = time.monotonic() + 20
    while docker(cli, "inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
        assert time.monotonic() < deadline, f"{name} did not start"
        time.sleep(0.1)


# -- namespaces ------------------------------------------------------------------


def test_pid_host_shows_the_hosts_processes(cli: Cli) -> None:
    listed = docker(cli, "run", "--rm", "--pid", "host", "busybox", "ps", "-o", "pid,args").stdout
    assert "pouchd" in listed  # the daemon is a host process
    own = docker(cli, "run", "--rm", "busybox", "ps", "-o", "pid,args").stdout
    assert "pouchd" not in own


def test_pid_container_joins_a_running_container(cli: Cli, names: list[str]) -> None:
    background(cli, names, "pidsrc", "busybox", "sleep", "123")
    listed = docker(cli, "run", "--rm", "--pid", "container:pidsrc", "busybox", "ps").stdout
    assert "sleep 123" in listed


def test_ipc_container_shares_ipc_namespace_and_shm(cli: Cli, names: list[str]) -> None:
    background(
        cli,
        names,
        "ipcsrc",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo shared > /dev/shm/marker; sleep 120",
    )
    theirs = docker(cli, "exec", "ipcsrc", "readlink", "/proc/self/ns/ipc").stdout.strip()
    seen = docker(
        cli,
        "run",
        "--rm",
        "--ipc",
        "container:ipcsrc",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/ipc; cat /dev/shm/marker",
    ).stdout.split()
    assert seen == [theirs, "shared"]
    own = docker(cli, "run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc").stdout.strip()
    assert own != theirs
    background(cli, names, "ipcprivate", "busybox", "sleep", "120")
    refused = docker(
        cli, "run", "--rm", "--ipc", "container:ipcprivate", "busybox", "true", check=False
    )
    assert refused.returncode != 0 and "not shareable" in refused.stderr
    no_shm = docker(cli, "run", "--rm", "--ipc", "none", "busybox", "ls", "/dev/shm", check=False)
    assert no_shm.returncode != 0  # none: no /dev/shm at all


def test_joining_a_stopped_container_is_refused(cli: Cli, names: list[str]) -> None:
    names.append("stopped")
    docker(cli, "create", "--name", "stopped", "busybox", "true")
    refused = docker(
        cli, "run", "--rm", "--ipc", "container:stopped", "busybox", "true", check=False
    )
    assert refused.returncode != 0
    assert "container stopped: it is not running" in refused.stderr
    missing = docker(cli, "run", "--rm", "--pid", "container:nosuch", "busybox", check=False)
    assert missing.returncode != 0 and "no such container: nosuch" in missing.stderr


def test_uts_host_has_the_hosts_name(cli: Cli) -> None:
    shown = docker(cli, "run", "--rm", "--uts", "host", "busybox", "hostname").stdout.strip()
    assert shown == os.uname().nodename
    own = docker(cli, "run", "--rm", "busybox", "hostname").stdout.strip()
    assert own != os.uname().nodename


def test_cgroupns_private_and_host(cli: Cli) -> None:
    private = docker(
        cli, "run", "--rm", "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup"
    )
    assert all(line.endswith(":/") for line in private.stdout.splitlines())
    host = docker(cli, "run", "--rm", "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
    assert "/pouch/" in host.stdout


def test_userns_host_runs_as_root(cli: Cli) -> None:
    assert docker(cli, "run", "--rm", "--userns", "host", "busybox", "id", "-u").stdout == "0\n"


# -- devices, /dev/shm, groups, cgroup ------------------------------------------------


def test_device_appears_under_its_new_name(cli: Cli) -> None:
    shown = docker(
        cli,
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/mynull",
        "busybox",
        "sh",
        "-c",
        "stat -c '%t:%T %F' /dev/mynull; echo x > /dev/mynull && echo written",
    ).stdout.split("\n")
    assert shown[:2] == ["1:3 character special file", "written"]
    # /dev/kmsg is not among the devices every container may use
    read_only = docker(
        cli,
        "run",
        "--rm",
        "--device",
        "/dev/kmsg:/dev/mykmsg:r",
        "busybox",
        "sh",
        "-c",
        "grep 'c 1:11' /sys/fs/cgroup/devices/devices.list; echo x > /dev/mykmsg && echo written",
        check=False,
    )
    assert read_only.stdout == "c 1:11 r\n" and "Operation not permitted" in read_only.stderr
    missing = docker(cli, "run", "--rm", "--device", "/dev/nosuchdevice", "busybox", check=False)
    assert "/dev/nosuchdevice" in missing.stderr and missing.returncode != 0


@pytest.mark.skipif(detect_cgroup_version() != 1, reason="reads the v1 devices cgroup")
def test_device_cgroup_rule_in_the_cgroup(cli: Cli) -> None:
    shown = docker(
        cli,
        "run",
        "--rm",
        "--device-cgroup-rule",
        "c 42:* rw",
        "--device-cgroup-rule",
        "b 8:3 m",
        "busybox",
        "cat",
        "/sys/fs/cgroup/devices/devices.list",
    ).stdout.splitlines()
    assert "c 42:* rw" in shown and "b 8:3 m" in shown
    plain = docker(cli, "run", "--rm", "busybox", "cat", "/sys/fs/cgroup/devices/devices.list")
    assert "c 42:* rw" not in plain.stdout.splitlines()


def test_gpus_are_refused(cli: Cli) -> None:
    refused = docker(cli, "run", "--rm", "--gpus", "all", "busybox", check=False)
    assert refused.returncode != 0 and "no GPU support" in refused.stderr


def test_shm_size(cli: Cli) -> None:
    shown = docker(cli, "run", "--rm", "--shm-size", "16m", "busybox", "df", "-k", "/dev/shm")
    assert shown.stdout.splitlines()[1].split()[1] == "16384"
    default = docker(cli, "run", "--rm", "busybox", "df", "-k", "/dev/shm").stdout
    assert default.splitlines()[1].split()[1] == "65536"


def test_group_add_by_number_and_name(cli: Cli) -> None:
    shown = docker(
        cli, "run", "--rm", "--group-add", "1234", "--group-add", "nogroup", "busybox", "id", "-G"
    )
    assert set(shown.stdout.split()) == {"0", "1234", "65534"}
    unknown = docker(cli, "run", "--rm", "--group-add", "nosuchgroup", "busybox", check=False)
    assert unknown.returncode != 0 and "unable to find group nosuchgroup" in unknown.stderr


@pytest.mark.skipif(detect_cgroup_version() != 1, reason="swappiness is cgroup v1 only")
def test_memory_swappiness_in_the_cgroup(cli: Cli) -> None:
    shown = docker(
        cli,
        "run",
        "--rm",
        "--memory-swappiness",
        "17",
        "busybox",
        "cat",
        "/sys/fs/cgroup/memory/memory.swappiness",
    )
    assert shown.stdout == "17\n"
    refused = docker(cli, "run", "--rm", "--memory-swappiness", "101", "busybox", check=False)
    assert refused.returncode != 0


# -- /etc files --------------------------------------------------------------------------


def test_add_host_and_dns(cli: Cli) -> None:
    shown = docker(
        cli,
        "run",
        "--rm",
        "--add-host",
        "db.local:10.1.2.3",
        "--add-host",
        "gateway:host-gateway",
        "--dns",
        "10.0.0.53",
        "--dns-search",
        "example.org",
        "--dns-option",
        "ndots:2",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts; echo ---; cat /etc/resolv.conf",
    ).stdout
    hosts, resolv = shown.split("---\n")
    assert "10.1.2.3\tdb.local\n" in hosts
    gateway = next(line for line in hosts.splitlines() if line.endswith("\tgateway"))
    assert not gateway.startswith("host-gateway")
    assert resolv == "nameserver 10.0.0.53\nsearch example.org\noptions ndots:2\n"


# -- logs ------------------------------------------------------------------------------------


def test_log_driver_none(cli: Cli, names: list[str]) -> None:
    attached = docker(cli, "run", "--rm", "--log-driver", "none", "busybox", "echo", "hi")
    assert attached.stdout == "hi\n"  # an attached client still sees the output
    names.append("quiet")
    docker(cli, "run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi")
    logs = docker(cli, "logs", "quiet", check=False)
    assert logs.returncode != 0
    assert "configured logging driver does not support reading" in logs.stderr
    shown = docker(cli, "inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "quiet").stdout
    assert shown.strip() == "none"


# -- other containers' volumes and links ----------------------------------------------------------


def test_volumes_from(cli: Cli, names: list[str], tmp_path: Path) -> None:
    (tmp_path / "x").write_text("bound\n")
    names.append("vsrc")
    docker(
        cli,
        "run",
        "--name",
        "vsrc",
        "-v",
        "/data",
        "-v",
        f"{tmp_path}:/bind",
        "busybox",
        "sh",
        "-c",
        "echo anonymous > /data/f",
    )
    shown = docker(
        cli, "run", "--rm", "--volumes-from", "vsrc", "busybox", "cat", "/data/f", "/bind/x"
    )
    assert shown.stdout == "anonymous\nbound\n"
    read_only = docker(
        cli, "run", "--rm", "--volumes-from", "vsrc:ro", "busybox", "touch", "/data/g", check=False
    )
    assert read_only.returncode != 0 and "Read-only file system" in read_only.stderr


def test_link_env_and_hosts(cli: Cli, daemon: PouchDaemon, names: list[str]) -> None:
    # On the default network (none here) the docker CLI sends HostConfig.Links.
    background(cli, names, "plaindb", "-e", "SECRET=s3", "busybox", "sleep", "120")
    names.append("plainlinker")
    shown = docker(
        cli, "run", "--name", "plainlinker", "--link", "plaindb:db", "busybox", "env"
    ).stdout.splitlines()
    assert "DB_NAME=/plainlinker/db" in shown and "DB_ENV_SECRET=s3" in shown
    links = docker(cli, "inspect", "-f", "{{json .HostConfig.Links}}", "plainlinker").stdout
    assert links.strip() == '["/plaindb:/plainlinker/db"]'
    docker(cli, "stop", "-t", "0", "plaindb")
    refused = docker(cli, "start", "-a", "plainlinker", check=False)
    assert refused.returncode != 0 and "not running" in refused.stderr

    # With an address: a network of this test's own (other pouchds may run
    # beside it), and docker-py, which sends HostConfig.Links on any network.
    docker_py = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")
    names.append("net:pflinks")
    # 10.232.0.0/16: no default network of pouch or of its tests lies there.
    subnet = f"10.232.{os.getpid() % 250}.0/24"
    docker(
        cli,
        "network",
        "create",
        "--subnet",
        subnet,
        "-o",
        f"com.docker.network.bridge.name=pfl{os.getpid() % 100000}",
        "pflinks",
    )
    background(
        cli, names, "linkdb", "--network", "pflinks", "--expose", "5432", "busybox", "sleep", "120"
    )
    address = docker(
        cli, "inspect", "-f", "{{.NetworkSettings.Networks.pflinks.IPAddress}}", "linkdb"
    ).stdout.strip()
    assert address.startswith(subnet.rpartition(".")[0] + ".")
    client = docker_py.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    names.append("linker")
    linker = client.containers.run(
        "busybox",
        ["sh", "-c", "env; cat /etc/hosts"],
        name="linker",
        network="pflinks",
        links={"linkdb": "db"},
        detach=True,
    )
    assert linker.wait(timeout=60)["StatusCode"] == 0
    output = linker.logs().decode()
    assert f"DB_PORT=tcp://{address}:5432" in output
    assert "DB_PORT_5432_TCP_PROTO=tcp" in output
    assert f"{address}\tdb " in output and "linkdb" in output


def test_inspect_shows_runtime_and_isolation(cli: Cli, names: list[str]) -> None:
    names.append("shown")
    docker(cli, "create", "--name", "shown", "--pid", "host", "--shm-size", "8m", "busybox")
    shown = docker(
        cli,
        "inspect",
        "-f",
        "{{.HostConfig.Runtime}} {{.HostConfig.Isolation}} {{.HostConfig.PidMode}}"
        " {{.HostConfig.ShmSize}} {{.HostConfig.IpcMode}}",
        "shown",
    ).stdout.split()
    assert shown == [RUNTIME, "default", "host", str(8 * 1024 * 1024), "private"]


# -- docker-py: the API's shapes ---------------------------------------------------------------


def test_docker_py_create_and_inspect(daemon: PouchDaemon, names: list[str]) -> None:
    docker_py = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")
    client = docker_py.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    names.append("pyflags")
    container = client.containers.create(
        "busybox",
        ["sh", "-c", "cat /etc/hosts /etc/resolv.conf; id -G; df -k /dev/shm"],
        name="pyflags",
        extra_hosts={"db": "10.9.8.7"},
        dns=["10.0.0.2"],
        dns_search=["corp.example"],
        dns_opt=["ndots:1"],
        group_add=["4321"],
        shm_size="8m",
        devices=["/dev/null:/dev/pynull:rw"],
        device_cgroup_rules=["c 42:1 rwm"],
        pid_mode="host",
        ipc_mode="shareable",
        mem_swappiness=5,
    )
    host = client.api.inspect_container(container.id)["HostConfig"]
    assert host["ExtraHosts"] == ["db:10.9.8.7"]
    assert (host["Dns"], host["DnsSearch"], host["DnsOptions"]) == (
        ["10.0.0.2"],
        ["corp.example"],
        ["ndots:1"],
    )
    assert host["GroupAdd"] == ["4321"] and host["ShmSize"] == 8 * 1024 * 1024
    assert host["Devices"] == [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/pynull", "CgroupPermissions": "rw"}
    ]
    assert host["DeviceCgroupRules"] == ["c 42:1 rwm"]
    assert (host["PidMode"], host["IpcMode"], host["MemorySwappiness"]) == ("host", "shareable", 5)
    assert (host["Runtime"], host["Isolation"]) == (RUNTIME, "default")
    container.start()
    assert container.wait(timeout=60)["StatusCode"] == 0
    output = container.logs().decode()
    assert "10.9.8.7\tdb\n" in output and "nameserver 10.0.0.2\n" in output
    assert "4321" in output.split() and "8192" in output.split()
    with pytest.raises(docker_py.errors.APIError) as refused:
        client.containers.create("busybox", dns=["not-an-ip"])
    assert refused.value.status_code == 400 and "HostConfig.Dns" in str(refused.value)
    with pytest.raises(docker_py.errors.APIError) as refused:
        client.containers.create("busybox", device_cgroup_rules=["c 1:3 xyz"])
    assert "HostConfig.DeviceCgroupRules" in str(refused.value)
    with pytest.raises(docker_py.errors.APIError) as refused:
        client.containers.create("busybox", device_requests=[{"Count": -1}])
    assert "no GPU support" in str(refused.value)


# -- pouch's own CLI ----------------------------------------------------------------------------


def pouch(daemon: PouchDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pouch", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "POUCH_HOST": daemon.host},
        timeout=120,
        check=False,
    )


def test_pouch_run_takes_the_flags(daemon: PouchDaemon, names: list[str]) -> None:
    shown = pouch(
        daemon,
        "run",
        "--rm",
        "--uts",
        "host",
        "--add-host",
        "db:10.1.1.1",
        "--dns",
        "10.0.0.9",
        "--dns-search",
        "x.example",
        "--dns-option",
        "ndots:3",
        "--shm-size",
        "4m",
        "--group-add",
        "77",
        "--device",
        "/dev/null:/dev/pn",
        "--device-cgroup-rule",
        "c 42:2 r",
        "--cgroupns",
        "private",
        "--memory-swappiness",
        "0",
        "busybox",
        "sh",
        "-c",
        "hostname; grep db /etc/hosts; cat /etc/resolv.conf; id -G; df -k /dev/shm; ls /dev/pn",
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == os.uname().nodename
    assert lines[1] == "10.1.1.1\tdb"
    assert lines[2:5] == ["nameserver 10.0.0.9", "search x.example", "options ndots:3"]
    assert lines[5].split() == ["0", "77"]
    assert lines[7].split()[1] == "4096" and lines[8] == "/dev/pn"
    names.append("pouchsrc")
    assert (
        pouch(
            daemon,
            "run",
            "-d",
            "--name",
            "pouchsrc",
            "--ipc",
            "shareable",
            "-v",
            "/vol",
            "busybox",
            "sleep",
            "120",
        ).returncode
        == 0
    )
    joined = pouch(
        daemon,
        "run",
        "--rm",
        "--name",
        "pjoin",
        "--pid",
        "container:pouchsrc",
        "--ipc",
        "container:pouchsrc",
        "--volumes-from",
        "pouchsrc",
        "--link",
        "pouchsrc:src",
        "--log-driver",
        "none",
        "busybox",
        "sh",
        "-c",
        "ps | grep -c '[s]leep 120'; ls -d /vol; echo $SRC_NAME",
    )
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout.split() == ["1", "/vol", "/pjoin/src"]
    gpus = pouch(daemon, "run", "--rm", "--gpus", "all", "busybox")
    assert gpus.returncode == 125 and "no GPU support" in gpus.stderr


# -- the lxc runtime ------------------------------------------------------------------------------


def test_lxc_runtime_takes_the_flags_it_can(cli: Cli, names: list[str]) -> None:
    runtimes = docker(cli, "info", "--format", "{{json .Runtimes}}").stdout
    if '"lxc"' not in runtimes:
        pytest.skip(
            "the lxc runtime is not loaded here (pip install pouch-lxc, apt-get install lxc)"
        )
    lxc = ("run", "--rm", "--runtime", "lxc")
    assert "pouchd" in docker(cli, *lxc, "--pid", "host", "busybox", "ps", "-o", "args").stdout
    shm = docker(cli, *lxc, "--shm-size", "16m", "busybox", "df", "-k", "/dev/shm").stdout
    assert shm.splitlines()[1].split()[1] == "16384"
    cgroups = docker(cli, *lxc, "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
    assert "/pouch/" in cgroups.stdout
    background(
        cli,
        names,
        "lxcsrc",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo m > /dev/shm/m; sleep 120",
    )
    joined = docker(cli, *lxc, "--ipc", "container:lxcsrc", "busybox", "cat", "/dev/shm/m")
    assert joined.stdout == "m\n"
    refused = docker(cli, *lxc, "--device", "/dev/null", "busybox", "true", check=False)
    assert refused.returncode != 0 and "the lxc runtime cannot add devices" in refused.stderr


def test_crun_runtime_takes_the_flags(cli: Cli, names: list[str]) -> None:
    runtimes = docker(cli, "info", "--format", "{{json .Runtimes}}").stdout
    if '"crun"' not in runtimes:
        pytest.skip("the crun runtime is not available here (apt-get install crun)")
    crun = ("run", "--rm", "--runtime", "crun")
    assert "pouchd" in docker(cli, *crun, "--pid", "host", "busybox", "ps", "-o", "args").stdout
    shown = docker(
        cli,
        *crun,
        "--device",
        "/dev/null:/dev/mynull",
        "--shm-size",
        "16m",
        "busybox",
        "sh",
        "-c",
        "stat -c %t:%T /dev/mynull; df -k /dev/shm",
    ).stdout.splitlines()
    assert shown[0] == "1:3" and shown[2].split()[1] == "16384"
    background(
        cli,
        names,
        "crunsrc",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo m > /dev/shm/m; sleep 120",
    )
    joined = docker(cli, *crun, "--ipc", "container:crunsrc", "busybox", "cat", "/dev/shm/m")
    assert joined.stdout == "m\n"


def test_exec_keeps_numeric_added_groups(cli: Cli, names: list[str]) -> None:
    background(cli, names, "groups", "--group-add", "4321", "busybox", "sleep", "120")
    assert "4321" in docker(cli, "exec", "groups", "id", "-G").stdout.split()
