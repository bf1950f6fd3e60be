"""``docker cp``, ``diff`` and ``export`` against a real pouchd with real containers.

Also the archive endpoint's security: a hostile tar must write nothing on
the host outside the container's root, whatever its names, links or order.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from pouch.testing.daemon import PouchDaemon, preferred_runtime

docker_py = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")

RUNTIME, NO_RUNC = preferred_runtime()
pytestmark = pytest.mark.skipif(RUNTIME != "runc", reason=f"needs real containers: {NO_RUNC}")

Cli = tuple[str, dict[str, str]]


@pytest.fixture
def pouch_runtime() -> str:
    return RUNTIME


def run(cli: Cli, *args: str, check: bool = True, input: str | None = None) -> str:
    binary, env = cli
    done = subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=120, input=input
    )
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done.stdout if check else done.stdout + done.stderr


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_docker_cp_both_ways(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: Cli, tmp_path: Path
) -> None:
    source = tmp_path / "hello.txt"
    source.write_text("hello from the host\n")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "deep.txt").write_text("deep\n")
    run(docker_cli, "volume", "create", "data")
    run(docker_cli, "run", "-d", "--name", "live", "-v", "data:/data", "busybox", "sleep", "300")
    run(docker_cli, "create", "--name", "idle", "busybox", "cat", "/etc/copied.txt")

    run(docker_cli, "cp", str(source), "live:/tmp/")
    assert run(docker_cli, "exec", "live", "cat", "/tmp/hello.txt") == "hello from the host\n"
    run(docker_cli, "cp", str(folder), "live:/data/")
    assert run(docker_cli, "exec", "live", "cat", "/data/folder/sub/deep.txt") == "deep\n"
    run(docker_cli, "cp", str(source), "idle:/etc/copied.txt")
    run(docker_cli, "start", "-a", "idle") == "hello from the host\n"  # noqa: B015
    assert run(docker_cli, "logs", "idle") == "hello from the host\n"

    out = tmp_path / "out"
    out.mkdir()
    run(docker_cli, "cp", "live:/etc/passwd", str(out / "passwd"))
    assert (out / "passwd").read_text().startswith("root:")
    run(docker_cli, "cp", "live:/data/folder", str(out))
    assert (out / "folder" / "sub" / "deep.txt").read_text() == "deep\n"
    run(docker_cli, "cp", "idle:/etc/copied.txt", str(out / "back.txt"))
    assert (out / "back.txt").read_text() == "hello from the host\n"
    listing = subprocess.run(
        ["tar", "t"],
        input=subprocess.run(
            [docker_cli[0], "cp", "live:/data", "-"],
            env=docker_cli[1],
            capture_output=True,
            check=True,
        ).stdout,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "data/folder/sub/deep.txt" in listing.split()
    missing = run(docker_cli, "cp", "live:/no/such", str(out), check=False)
    assert "No such container:path" in missing or "Could not find" in missing
    assert not list((pouchd.run_root / "archive").glob("*"))  # temporary mounts are gone


def test_docker_py_archive_and_diff(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    client = docker_py.DockerClient(base_url=pouchd.host, version="auto", timeout=60)
    container = client.containers.run("busybox", ["sleep", "300"], detach=True)
    container.exec_run(["sh", "-c", "echo new > /root/added; rm /bin/vi; echo x >> /etc/group"])
    chunks, found = container.get_archive("/etc/group")
    assert found["name"] == "group" and found["mode"] == 0o644 and found["size"] > 0
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert tar.getnames() == ["group"]
    _, linked = container.get_archive("/bin/sh")
    assert linked["mode"] & (1 << 27) and linked["linkTarget"] == "/bin/busybox"
    chunks, _ = container.get_archive("/etc/hostname")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        hostname = tar.extractfile("hostname")
        assert hostname is not None and hostname.read() == f"{container.id[:12]}\n".encode()
    _, folder = container.get_archive("/etc")
    assert folder["mode"] == (1 << 31) | 0o755
    assert container.put_archive("/root", _tar(_file("put.txt", b"put\n")))
    assert container.exec_run(["cat", "/root/put.txt"]).output == b"put\n"
    changes = {(c["Path"], c["Kind"]) for c in container.diff()}
    assert {("/root", 0), ("/root/added", 1), ("/root/put.txt", 1)} <= changes
    assert {("/bin", 0), ("/bin/vi", 2), ("/etc/group", 0)} <= changes
    with pytest.raises(docker_py.errors.NotFound) as missing:
        container.get_archive("/nothing")
    assert "Could not find the file /nothing in container" in str(missing.value)
    with pytest.raises(docker_py.errors.NotFound) as gone:
        client.api.get_archive("no-such-container", "/etc")
    assert "No such container: no-such-container" in str(gone.value)
    status, headers, _ = pouchd.request(
        "HEAD", f"/containers/{container.id}/archive", query={"path": "/etc/hostname"}
    )
    assert status == 200
    stat = json.loads(base64.b64decode(headers["x-docker-container-path-stat"]))
    assert stat["name"] == "hostname"
    status, _, body = pouchd.request(
        "PUT", f"/containers/{container.id}/archive", b"not a tar", query={"path": "/tmp"}
    )
    assert status == 400, body
    container.remove(force=True)


def test_docker_diff_and_export(pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: Cli) -> None:
    run(docker_cli, "create", "--name", "fresh", "busybox", "sleep", "60")
    run(docker_cli, "start", "fresh")
    # /etc/hosts and the other mount points a runtime makes are not changes.
    assert run(docker_cli, "diff", "fresh") == ""
    # A client that stops reading an export half-way leaves pouchd serving.
    cut = subprocess.run(
        f"{docker_cli[0]} export fresh | head -c 1000 > /dev/null;"
        f" {docker_cli[0]} save busybox | head -c 1000 > /dev/null",
        shell=True, env=docker_cli[1], timeout=60, check=False,
    )  # fmt: skip
    assert cut.returncode == 0
    assert run(docker_cli, "inspect", "-f", "{{.State.Status}}", "fresh").strip() == "running"
    run(docker_cli, "rm", "-f", "fresh")
    run(
        docker_cli,
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/new; rm /etc/motd 2>/dev/null; mkdir -p /srv/a",
    )
    diff = run(docker_cli, "diff", "changed").splitlines()
    assert "A /tmp/new" in diff and "C /tmp" in diff and "A /srv/a" in diff
    exported = subprocess.run(
        [docker_cli[0], "export", "changed"], env=docker_cli[1], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        names = tar.getnames()
    assert "tmp/new" in names and "bin/busybox" in names and "srv/a" in names
    assert not any(n.startswith(("/", "./", "..")) for n in names)


def test_hostile_tar_writes_nothing_outside_the_root(
    pouchd: PouchDaemon, pouchd_busybox: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("host data\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    container = pouchd.json(
        "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "300"]}
    )["Id"]
    pouchd.json("POST", f"/containers/{container}/start")

    def put(body: bytes, path: str = "/tmp") -> int:
        status, _, _ = pouchd.request(
            "PUT", f"/containers/{container}/archive", body, query={"path": path}
        )
        return status

    # A name that climbs out is refused whole, before anything is written.
    assert put(_tar(_file("ok.txt", b"ok"), _file("../../escape", b"x"))) == 400
    assert put(_tar(_file("a/../../../../escape2", b"x"))) == 400
    # Absolute names are relative to the destination, as docker takes them.
    assert put(_tar(_file("/abs", b"abs"))) == 200
    # A symlink to a host directory, then a file written "through" it: the link
    # resolves inside the container, so the file lands in the container's tree.
    status = put(
        _tar(
            _link("link", str(outside)),
            _file("link/planted.txt", b"planted"),
            _link("up", "../../../../../../.."),
            _file(f"up{outside}/planted2.txt", b"planted"),
            _link("victim", str(victim)),
            _file("victim", b"overwritten"),
        )
    )
    assert status == 200
    # A hard link to a host file links the container's file of that path, if any.
    assert put(_tar(_link("hard", str(victim), tarfile.LNKTYPE))) in (400, 200)
    assert put(_tar(_link("hard2", "../../etc/passwd", tarfile.LNKTYPE))) == 400
    # A destination that is a symlink out of the root resolves inside it too.
    assert put(_tar(_link("door", str(outside))), "/") == 200
    assert put(_tar(_file("through-door.txt", b"x")), "/door") in (200, 404)

    assert victim.read_text() == "host data\n"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not Path("/escape").exists() and not Path("/escape2").exists()
    assert not Path("/abs").exists()

    def cat(path: str) -> bytes:
        exec_id = pouchd.json(
            "POST",
            f"/containers/{container}/exec",
            {"Cmd": ["cat", path], "AttachStdout": True},
        )["Id"]
        _, _, out = pouchd.request(
            "POST",
            f"/exec/{exec_id}/start",
            json.dumps({"Detach": False}).encode(),
            headers={"Content-Type": "application/json"},
        )
        return out

    assert b"planted" in cat(f"{outside}/planted.txt")
    assert b"abs" in cat("/tmp/abs")
    assert b"ok" not in cat("/tmp/ok.txt")  # the refused archive wrote nothing
    os.stat(victim)  # still a plain host file
    pouchd.json("DELETE", f"/containers/{container}", query={"force": "1"})


def test_docker_commit_then_run_and_history(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: Cli
) -> None:
    run(docker_cli, "run", "-d", "--name", "base", "--expose", "7000", "--health-cmd", "true",
        "busybox", "sleep", "300")  # fmt: skip
    run(docker_cli, "exec", "base", "sh", "-c", "echo committed > /root/state; rm /bin/vi")
    image_id = run(
        docker_cli,
        "commit",
        "--change",
        "CMD cat /root/state",
        "--change",
        "ENV COLOUR=blue",
        "-m",
        "a message",
        "base",
        "mine:v1",
    ).strip()
    assert image_id.startswith("sha256:")
    assert "mine" in run(docker_cli, "images")
    assert run(docker_cli, "inspect", "-f", "{{.State.Status}}", "base").strip() == "running"
    assert run(docker_cli, "run", "--rm", "mine:v1") == "committed\n"
    assert "COLOUR=blue" in run(docker_cli, "run", "--rm", "mine:v1", "env")
    config = json.loads(run(docker_cli, "image", "inspect", "mine:v1"))[0]["Config"]
    assert "7000/tcp" in config["ExposedPorts"]  # the container's, kept as docker does
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    gone = run(docker_cli, "run", "--rm", "mine:v1", "ls", "/bin/vi", check=False)
    assert "No such file" in gone
    history = run(docker_cli, "history", "mine:v1").splitlines()
    assert len(history) == 3  # header, the commit, the import
    assert history[1].split()[0] == image_id.removeprefix("sha256:")[:12]
    assert "a message" in history[1] and "<missing>" in history[2]
    refused = run(docker_cli, "commit", "--change", "ONBUILD RUN true", "base", check=False)
    assert "ONBUILD" in refused
    run(docker_cli, "rm", "-f", "base")


def test_docker_py_commit_and_history(pouchd: PouchDaemon, pouchd_busybox: str) -> None:
    client = docker_py.DockerClient(base_url=pouchd.host, version="auto", timeout=60)
    container = client.containers.create("busybox", ["sh", "-c", "echo hi > /hi"])
    container.start()
    container.wait()
    image = container.commit("snap", "one", changes=["WORKDIR /srv", "USER nobody"])
    with pytest.raises(docker_py.errors.APIError, match="changes"):
        client.api.commit(container.id, repository="snap", conf={"Cmd": ["true"]})
    assert image.attrs["Config"]["WorkingDir"] == "/srv"
    assert image.attrs["Config"]["User"] == "nobody"
    assert client.containers.run("snap:one", ["cat", "/hi"], remove=True) == b"hi\n"
    history = image.history()
    assert history[0]["Id"] == image.id and history[0]["Tags"] == ["snap:one"]
    assert history[-1]["Id"] == "<missing>"
    assert history[0]["Size"] >= 3 and history[0]["CreatedBy"] == "sh -c echo hi > /hi"
    with pytest.raises(docker_py.errors.NotFound):
        client.api.commit("no-such-container")


def test_cp_options_owner_overwrite_read_only(
    pouchd: PouchDaemon, pouchd_busybox: str, docker_cli: Cli, tmp_path: Path
) -> None:
    source = tmp_path / "f.txt"
    source.write_text("x\n")
    run(docker_cli, "create", "--name", "nobody-box", "--user", "nobody", "busybox", "true")
    run(docker_cli, "cp", "-a", str(source), "nobody-box:/tmp/")
    run(docker_cli, "cp", str(source), "nobody-box:/tmp/plain.txt")
    client = docker_py.DockerClient(base_url=pouchd.host, version="auto", timeout=60)
    box = client.containers.get("nobody-box")
    chunks, _ = box.get_archive("/tmp/f.txt")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert (tar.getmember("f.txt").uid, tar.getmember("f.txt").gid) == (65534, 65534)
    chunks, _ = box.get_archive("/tmp/plain.txt")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert tar.getmember("plain.txt").uid == os.getuid()

    # noOverwriteDirNonDir: a file never replaces a directory, nor a directory a file.
    status, _, body = pouchd.request(
        "PUT",
        f"/containers/{box.id}/archive",
        _tar(_file("etc", b"not a dir")),
        query={"path": "/", "noOverwriteDirNonDir": "1"},
    )
    assert status == 400 and b"cannot overwrite directory" in body
    linked = run(docker_cli, "cp", "-L", "nobody-box:/bin/sh", str(tmp_path / "sh"))
    assert linked == "" and (tmp_path / "sh").stat().st_size > 100_000  # busybox itself

    run(docker_cli, "volume", "create", "writable")
    run(docker_cli, "create", "--name", "ro", "--read-only", "-v", "writable:/w", "busybox")
    refused = run(docker_cli, "cp", str(source), "ro:/tmp/", check=False)
    assert "read-only" in refused
    run(docker_cli, "cp", str(source), "ro:/w/")
    assert (
        run(docker_cli, "run", "--rm", "-v", "writable:/w", "busybox", "cat", "/w/f.txt") == "x\n"
    )
