"""``pouch image …`` and ``pouch container …``, docker's management commands, on a real pouchd."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from .conftest import Pouch

pytestmark = pytest.mark.slow

RECLAIMED = re.compile(r"Total reclaimed space: \d+(\.\d+)?[kMGT]?B\n")
STABLE = "{{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.State}} {{.Labels}}"


def rootfs(tmp_path: Path, name: str) -> str:
    """A one-file root filesystem tarball whose content (hence image) ``name`` makes unique."""
    path = tmp_path / f"{name}.tar"
    data = f"{name}\n".encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return str(path)


def image_id(cli: Pouch, name: str) -> str:
    return cli.ok("image", "inspect", "-f", "{{.Id}}", name).strip()


def test_image_ls_lists_what_images_lists(cli: Pouch) -> None:
    listed = cli.ok("image", "ls")
    assert listed == cli.ok("images")
    assert listed.splitlines()[1].split()[:2] == ["busybox", "latest"]
    assert cli.ok("image", "list", "-q") == cli.ok("images", "-q") != ""


def test_image_prune_removes_a_dangling_image(cli: Pouch, tmp_path: Path) -> None:
    cli.ok("image", "import", rootfs(tmp_path, "one"), "x:1")
    old = image_id(cli, "x:1")
    cli.ok("image", "import", rootfs(tmp_path, "two"), "x:1")  # the name moves: old dangles
    new = image_id(cli, "x:1")
    assert old != new
    assert old.removeprefix("sha256:")[:12] in cli.ok("image", "ls", "-q")

    refused = cli("image", "prune", input="")  # no terminal to ask on, no -f
    assert refused.status == 1
    assert "This will remove all dangling images" in refused.err and "(use -f)" in refused.err
    assert old.removeprefix("sha256:")[:12] in cli.ok("image", "ls", "-q")

    out = cli.ok("image", "prune", "-f")
    assert out.startswith(f"Deleted Images:\ndeleted: {old}\n\n")
    assert RECLAIMED.fullmatch(out.split("\n\n")[1])
    assert not out.endswith(" 0B\n")  # its layer's files went with it
    assert cli("image", "inspect", old).status == 1
    assert image_id(cli, "x:1") == new
    assert "busybox" in cli.ok("image", "ls")
    assert cli.ok("image", "prune", "-f") == "Total reclaimed space: 0B\n"


def test_image_prune_all_keeps_the_images_containers_use(cli: Pouch, tmp_path: Path) -> None:
    cli.ok("image", "import", rootfs(tmp_path, "unused"), "y:1")
    unused = image_id(cli, "y:1")
    cli.ok("container", "create", "--name", "keeper", "busybox", "true")  # never started

    assert cli.ok("image", "prune", "-f") == "Total reclaimed space: 0B\n"  # y:1 is tagged
    out = cli.ok("image", "prune", "-a", "-f")
    assert out.startswith(f"Deleted Images:\nuntagged: y:1\ndeleted: {unused}\n\n")
    assert RECLAIMED.fullmatch(out.split("\n\n")[1])
    names = cli.ok("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    assert names == "busybox:latest\n"

    # system prune -a asks pouchd for the same prune and reports it alike.
    cli.ok("image", "import", rootfs(tmp_path, "later"), "z:1")
    later, busybox = image_id(cli, "z:1"), image_id(cli, "busybox")
    out = cli.ok("system", "prune", "-a", "-f")
    assert "Deleted Containers:\n" in out  # keeper was never started: it goes first
    images = out.partition("Deleted Images:\n")[2].partition("\n\n")[0].splitlines()
    assert sorted(images) == sorted(
        ["untagged: z:1", "untagged: busybox:latest", f"deleted: {later}", f"deleted: {busybox}"]
    )


def test_container_prune_removes_stopped_containers_only(cli: Pouch) -> None:
    running = cli.ok("container", "run", "-d", "--name", "up", "busybox", "sleep", "300").strip()
    made = cli.ok("container", "create", "--name", "made", "busybox", "true").strip()
    cli.ok("container", "run", "--name", "done", "busybox", "true")
    done = cli.ok("container", "inspect", "-f", "{{.Id}}", "done").strip()
    labelled = cli.ok("container", "create", "-l", "keep=yes", "busybox", "true").strip()

    listed = cli.ok("container", "ls", "-a", "--format", STABLE)
    assert listed == cli.ok("ps", "-a", "--format", STABLE)
    assert len(listed.splitlines()) == 4
    # The same columns in the same order; their widths follow the rows' text at that
    # moment ("Less than a second ago" becomes "1 second ago" between the two calls).
    header = cli.ok("container", "ls", "-a").splitlines()[0]
    assert header.split() == cli.ok("ps", "-a").splitlines()[0].split()
    assert (
        cli.ok("container", "list", "-q") == cli.ok("container", "ps", "-q") == running[:12] + "\n"
    )

    refused = cli("container", "prune", input="")
    assert refused.status == 1 and "This will remove all stopped containers" in refused.err
    assert cli.ok("container", "prune", "-f", "--filter", "until=1h") == (
        "Total reclaimed space: 0B\n"  # all of them were created less than an hour ago
    )

    out = cli.ok("container", "prune", "-f", "--filter", "label!=keep")
    head, _, tail = out.partition("\n\n")
    assert head.startswith("Deleted Containers:\n")
    assert set(head.splitlines()[1:]) == {made, done}
    assert RECLAIMED.fullmatch(tail)
    left = cli.ok("container", "ls", "-a", "-q", "--no-trunc").split()
    assert sorted(left) == sorted([running, labelled])

    assert cli.ok("container", "prune", "-f").startswith(f"Deleted Containers:\n{labelled}\n\n")
    assert cli.ok("container", "ls", "-a", "-q", "--no-trunc") == f"{running}\n"
    cli.ok("container", "rm", "-f", "up")


def test_the_group_forms_reach_the_same_commands(cli: Pouch) -> None:
    cli.ok("container", "run", "-d", "--name", "web", "busybox", "sleep", "300")
    assert cli.ok("container", "exec", "web", "echo", "inside") == "inside\n"
    assert cli.ok("container", "stop", "-t", "1", "web") == "web\n"
    assert cli.ok("container", "inspect", "-f", "{{.State.Status}}", "web") == "exited\n"
    assert cli("image", "inspect", "web").status == 1  # images only
    assert cli("container", "inspect", "busybox").status == 1  # containers only
    assert cli.ok("container", "rm", "web") == "web\n"

    cli.ok("image", "tag", "busybox", "copy:2")
    assert image_id(cli, "copy:2") == image_id(cli, "busybox")
    assert cli.ok("image", "rm", "copy:2") == "Untagged: copy:2\n"
    history = cli.ok("image", "history", "-q", "busybox")
    assert history == cli.ok("history", "-q", "busybox") != ""
