"""Image references parse and normalise the way the docker CLI does."""

from __future__ import annotations

import pytest

from pouch.errors import InvalidArgument
from pouch.images import parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
        ("me/app", "docker.io/me/app:latest"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("localhost/x:dev", "localhost/x:dev"),
        ("quay.io/a/b/c:v1.0-rc_2", "quay.io/a/b/c:v1.0-rc_2"),
        ("[::1]:5000/app:1", "[::1]:5000/app:1"),
        ("my_app.v2--x", "docker.io/library/my_app.v2--x:latest"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}"),
    ],
)
def test_references_are_normalised_like_docker(text: str, full: str) -> None:
    assert str(parse_reference(text)) == full


def test_the_parts_and_the_familiar_form() -> None:
    ref = parse_reference("localhost:5000/team/app:2")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "team/app", "2", "")
    assert ref.repository == "localhost:5000/team/app"
    assert ref.familiar() == "localhost:5000/team/app:2"
    assert parse_reference("busybox").familiar() == "busybox:latest"
    assert parse_reference("busybox", default_tag=False).tag == ""
    assert parse_reference(f"busybox@{DIGEST}").tag == ""


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Busybox",
        "docker.io/Library/busybox",
        "busybox:",
        "busybox:-bad",
        "busybox:" + "t" * 129,
        "a//b",
        "-app",
        "app-",
        "busybox@sha256:abc",
        "busybox@sha256:" + "AB" * 32,
        "ab" * 32,
        "bad host!/x",
        "x" * 256,
    ],
)
def test_invalid_references_name_themselves(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_reference(text)
    assert repr(text) in str(caught.value)
