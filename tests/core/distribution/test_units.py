"""The registry client's pure parts: challenges, platforms, insecure hosts, messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from pouch.config import RegistrySettings
from pouch.distribution import (
    ImageNotFound,
    PullProgress,
    Registries,
    RegistryUnauthorized,
    RegistryUnavailable,
    parse_platform,
)
from pouch.distribution._auth import parse_challenges
from pouch.distribution._errors import error_for
from pouch.errors import InvalidArgument
from pouch.images import Platform


def test_challenges_with_quoted_commas_and_several_schemes() -> None:
    found = parse_challenges(
        [
            'Bearer realm="https://auth.example/token",service="registry.example",'
            'scope="repository:a/b:pull,push"',
            'Basic realm="x \\"quoted\\""',
        ]
    )
    assert [c.scheme for c in found] == ["bearer", "basic"]
    assert found[0].params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
    }
    assert found[1].realm == 'x "quoted"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/arm64", Platform(os="linux", architecture="arm64")),
        ("linux/arm64/v8", Platform(os="linux", architecture="arm64", variant="v8")),
        ("aarch64", Platform(os="linux", architecture="arm64")),
        ("Linux/x86_64", Platform(os="linux", architecture="amd64")),
    ],
)
def test_platforms_parse_like_docker(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize("text", ["", "linux/", "a/b/c/d"])
def test_bad_platforms_are_invalid_arguments(text: str) -> None:
    with pytest.raises(InvalidArgument, match="platform"):
        parse_platform(text)


def test_loopback_and_configured_hosts_are_insecure() -> None:
    settings = RegistrySettings(
        insecure=["registry.lan:5000", "10.1.0.0/16"], auth_file=Path("/nonexistent")
    )
    registries = Registries(settings)
    assert registries.is_insecure("127.0.0.1:5000")
    assert registries.is_insecure("127.8.9.10")
    assert registries.is_insecure("localhost:80")
    assert registries.is_insecure("[::1]:5000")
    assert registries.is_insecure("registry.lan:5000")
    assert registries.is_insecure("10.1.2.3:443")
    assert not registries.is_insecure("registry.lan:5001")
    assert not registries.is_insecure("quay.io")


def test_docker_io_endpoints_put_mirrors_first() -> None:
    settings = RegistrySettings(
        mirrors=["https://mirror.example", "127.0.0.1:5000"], auth_file=Path("/nonexistent")
    )
    endpoints = Registries(settings).endpoints("docker.io")
    assert [(e.host, e.scheme, e.mirror) for e in endpoints] == [
        ("mirror.example", "https", True),
        ("127.0.0.1:5000", "", True),
        ("registry-1.docker.io", "", False),
    ]
    assert [e.host for e in Registries(settings).endpoints("quay.io")] == ["quay.io"]


def test_error_messages_say_what_to_do() -> None:
    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
    unauthorized = error_for(401, body, host="r.example", what="r.example/app:1")
    assert isinstance(unauthorized, RegistryUnauthorized)
    assert "run `pouch login r.example`" in str(unauthorized)
    assert "r.example/app:1" in str(unauthorized)
    missing = error_for(404, b"", host="r.example", what="r.example/app:1", manifest=True)
    assert isinstance(missing, ImageNotFound) and missing.status == 404
    limited = error_for(429, b"", host="r.example", what="r.example/app:1")
    assert isinstance(limited, RegistryUnavailable) and "mirror" in str(limited)
    failing = error_for(503, b"<html>", host="r.example", what="r.example/app:1")
    assert "try again later" in str(failing)


def test_progress_lines_encode_as_docker_json_messages() -> None:
    line = PullProgress(status="Downloading", id="0123456789ab", current=5, total=10)
    assert line.to_docker() == {
        "status": "Downloading",
        "id": "0123456789ab",
        "progressDetail": {"current": 5, "total": 10},
    }
    assert PullProgress(status="Digest: sha256:x").to_docker() == {
        "status": "Digest: sha256:x",
        "progressDetail": {},
    }
