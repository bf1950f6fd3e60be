"""``pull``, ``push`` and credentials, against a real registry (Debian's docker-registry)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pouch.cli._auth import auth_header, forget, lookup, registry_of, remember, split_reference
from pouch.cli._registry import _full_name

from .conftest import Pouch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pouch.testing.registry import Registry


@pytest.mark.slow
def test_pull_prints_progress_lines_and_run_pulls_what_is_missing(
    cli: Pouch, registry: Registry
) -> None:
    from pouch.testing.registry_images import push_test_image, single_layer_image

    push_test_image(registry.address, "test/bb", single_layer_image(), tag="1")
    ref = f"{registry.address}/test/bb:1"
    lines = cli.ok("pull", ref).splitlines()
    assert lines[0] == "1: Pulling from test/bb"
    assert any(line.endswith(": Download complete") for line in lines)
    assert not any("[=" in line for line in lines), "progress bars are for terminals only"
    assert lines[-2] == f"Status: Downloaded newer image for {ref}"
    assert lines[-1] == ref
    assert cli.ok("pull", "-q", ref) == f"{ref}\n"

    cli.ok("rmi", ref)
    result = cli("run", "--rm", ref, "/bin/echo", "pulled")
    assert (result.status, result.out) == (0, "pulled\n")
    assert result.err.startswith(f"Unable to find image '{ref}' locally\n")
    assert cli("run", "--rm", "--pull", "never", f"{registry.address}/test/none").status == 125


@pytest.mark.slow
def test_push_then_pull_back(cli: Pouch, registry: Registry) -> None:
    ref = f"{registry.address}/pushed/bb:2"
    cli.ok("tag", "busybox", ref)
    pushed = cli.ok("push", ref)
    assert pushed.startswith(f"The push refers to repository [{registry.address}/pushed/bb]")
    assert "digest: sha256:" in pushed
    cli.ok("rmi", ref)
    assert cli.ok("pull", "-q", ref) == f"{ref}\n"


@pytest.fixture
def private_registry() -> Iterator[Registry]:
    """A registry that needs ann's password."""
    from pouch.testing.registry import RegistryMissing, running_registry

    with contextlib.ExitStack() as stack:
        try:
            registry = stack.enter_context(running_registry(users={"ann": "s3cret"}))
        except RegistryMissing as exc:
            pytest.skip(str(exc))
        yield registry


@pytest.mark.slow
def test_login_then_pull_from_a_private_registry(
    cli: Pouch, private_registry: Registry, tmp_path: Path
) -> None:
    from pouch.testing.registry_images import push_test_image, single_layer_image

    address = private_registry.address
    config = str(tmp_path / "config")
    cli.env["POUCH_CONFIG"] = config
    image = single_layer_image()
    push_test_image(address, "priv/bb", image, tag="1", credentials=("ann", "s3cret"))
    ref = f"{address}/priv/bb:1"
    denied = cli("pull", "-q", ref)
    assert denied.status == 1 and "pouch login" in denied.err
    wrong = cli("login", "-u", "ann", "--password-stdin", address, input="nope\n")
    assert wrong.status == 1 and wrong.err.startswith("Error: ")
    assert lookup(config, address) is None
    prompt = cli("login", "-u", "ann", address)  # stdin is not a terminal: no prompt
    assert prompt.status == 125 and "--password-stdin" in prompt.err
    login = cli("login", "-u", "ann", "--password-stdin", address, input="s3cret\n")
    assert (login.status, login.out) == (0, "Login Succeeded\n")
    assert lookup(config, address) == ("ann", "s3cret")
    assert cli.ok("pull", "-q", ref) == f"{ref}\n"
    assert cli.ok("logout", address) == f"Removing login credentials for {address}\n"
    assert lookup(config, address) is None


def test_references() -> None:
    assert split_reference("busybox") == ("busybox", "latest")
    assert split_reference("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "latest")
    assert split_reference("127.0.0.1:5000/a/b:2") == ("127.0.0.1:5000/a/b", "2")
    assert split_reference("a@sha256:ab") == ("a", "sha256:ab")
    assert registry_of("busybox") == "docker.io"
    assert registry_of("library/busybox") == "docker.io"
    assert registry_of("localhost/x") == "localhost"
    assert registry_of("127.0.0.1:5000/x") == "127.0.0.1:5000"
    assert _full_name("busybox") == "docker.io/library/busybox:latest"
    assert _full_name("me/app:1") == "docker.io/me/app:1"
    assert _full_name("127.0.0.1:5000/x@sha256:ab") == "127.0.0.1:5000/x@sha256:ab"


def test_credentials_are_kept_private_and_sent_per_registry(tmp_path: Path) -> None:
    config = str(tmp_path / "cfg")
    assert auth_header(config, "busybox") == {
        "X-Registry-Auth": base64.urlsafe_b64encode(b"{}").decode()
    }
    remember(config, "https://127.0.0.1:5000/", "ann", "s3:cret")
    assert os.stat(tmp_path / "cfg" / "config.json").st_mode & 0o777 == 0o600
    assert lookup(config, "127.0.0.1:5000") == ("ann", "s3:cret")
    header = auth_header(config, "127.0.0.1:5000/team/app:1")["X-Registry-Auth"]
    assert json.loads(base64.urlsafe_b64decode(header)) == {
        "username": "ann",
        "password": "s3:cret",
        "serveraddress": "127.0.0.1:5000",
    }
    assert lookup(config, "docker.io") is None
    assert forget(config, "127.0.0.1:5000")
    assert not forget(config, "127.0.0.1:5000")
    assert lookup(config, "127.0.0.1:5000") is None
