"""Authentication: basic auth on a real registry, bearer tokens, the credentials file."""

from __future__ import annotations

import base64
import functools
import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from pouch.config import RegistrySettings
from pouch.distribution import CredentialStore, Registries, RegistryUnauthorized, registry_key
from pouch.engine import Engine
from pouch.testing.registry import REGISTRY_BINARY, Registry, running_registry
from pouch.testing.registry_images import push_test_image, single_layer_image

pytestmark = pytest.mark.anyio

USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture
def auth_registry() -> Iterator[Registry]:
    """docker-registry with htpasswd (bcrypt) basic auth for alice."""
    if not REGISTRY_BINARY.is_file():
        pytest.skip("needs docker-registry (apt-get install docker-registry)")
    with running_registry(users={USER: PASSWORD}) as running:
        yield running


@pytest.fixture
def token_registry() -> Iterator[Registry]:
    """docker-registry with ``auth: token:`` trusting a local token server that knows alice."""
    if not REGISTRY_BINARY.is_file():
        pytest.skip("needs docker-registry (apt-get install docker-registry)")
    with running_registry(users={USER: PASSWORD}, token_auth=True) as running:
        yield running


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_basic_auth_login_pull_logout(engine: Engine, auth_registry: Registry) -> None:
    host = auth_registry.address
    push = functools.partial(
        push_test_image, host, "private", single_layer_image(), credentials=(USER, PASSWORD)
    )
    await anyio.to_thread.run_sync(push)
    ref = f"{host}/private:latest"
    auth_file = engine.config.registries.auth_file

    with pytest.raises(RegistryUnauthorized) as anonymous:
        await engine.images.pull(ref)
    assert f"pouch login {host}" in str(anonymous.value)
    assert "private" in str(anonymous.value)

    with pytest.raises(RegistryUnauthorized) as wrong:
        await engine.images.login(host, USER, "wrong")
    assert "incorrect username or password" in str(wrong.value)
    assert not auth_file.exists()

    assert await engine.images.login(host, USER, PASSWORD) == "Login Succeeded"
    assert mode(auth_file) == 0o600
    assert mode(auth_file.parent) == 0o700
    saved = json.loads(auth_file.read_text())
    assert base64.b64decode(saved["auths"][host]["auth"]).decode() == f"{USER}:{PASSWORD}"

    image = await engine.images.pull(ref)
    assert image.names == [ref]

    assert await engine.images.logout(host) == f"Removing login credentials for {host}"
    assert host not in json.loads(auth_file.read_text())["auths"]
    assert await engine.images.logout(host) == f"Not logged in to {host}"
    await engine.images.remove(ref)
    with pytest.raises(RegistryUnauthorized):
        await engine.images.pull(ref)


async def test_bearer_token_flow_with_the_real_registry(
    engine: Engine, token_registry: Registry
) -> None:
    host = token_registry.address
    tokens = token_registry.token_server
    assert tokens is not None
    push = functools.partial(
        push_test_image, host, "team/app", single_layer_image(), credentials=(USER, PASSWORD)
    )
    await anyio.to_thread.run_sync(push)
    ref = f"{host}/team/app:latest"

    with pytest.raises(RegistryUnauthorized) as anonymous:
        await engine.images.pull(ref)
    assert f"pouch login {host}" in str(anonymous.value)
    with pytest.raises(RegistryUnauthorized, match="incorrect username or password"):
        await engine.images.login(host, USER, "wrong")
    assert not engine.config.registries.auth_file.exists()

    assert await engine.images.login(host, USER, PASSWORD) == "Login Succeeded"
    tokens.requests.clear()
    first = await engine.images.pull(ref)
    await engine.images.remove(ref)
    second = await engine.images.pull(ref)
    assert first.id == second.id
    # One token for the pull scope, asked for with alice's credentials, then reused.
    assert tokens.requests == [(USER, ["repository:team/app:pull"])]


async def test_bearer_token_flow(
    make_engine: Callable[..., Any], fake_factory: Callable[..., Any]
) -> None:
    """The same flow against the fake registry, which shows every request's headers."""
    fake = fake_factory(users={USER: PASSWORD})
    fake.add("team/app", single_layer_image())
    ref = f"{fake.address}/team/app:latest"
    async with make_engine() as engine:
        with pytest.raises(RegistryUnauthorized) as wrong:
            await engine.images.login(fake.address, USER, "nope")
        assert "incorrect username or password" in str(wrong.value)
        assert await engine.images.login(fake.address, USER, PASSWORD) == "Login Succeeded"
        first = await engine.images.pull(ref)
        await engine.images.remove(ref)
        second = await engine.images.pull(ref)
    assert first.id == second.id
    # One token for the repository's pull scope, reused by the second pull.
    assert fake.token_requests.count("repository:team/app:pull") == 1
    token_calls = [h for m, p, h in fake.requests if p == "/token"]
    assert all(h["Authorization"].startswith("Basic ") for h in token_calls)
    blob_calls = [h for m, p, h in fake.requests if "/blobs/" in p]
    assert blob_calls and all(h["Authorization"].startswith("Bearer ") for h in blob_calls)


async def test_anonymous_bearer_tokens_for_public_images(fake_factory: Callable[..., Any]) -> None:
    fake = fake_factory(users={})
    fake.add("public", single_layer_image())
    registries = Registries(RegistrySettings(auth_file=Path("/nonexistent/auth.json")))
    client = registries.client(fake.address)
    _raw, _media_type, digest = await anyio.to_thread.run_sync(
        client.get_manifest, "public", "latest"
    )
    assert digest == single_layer_image().digest
    token_calls = [h for m, p, h in fake.requests if p == "/token"]
    assert token_calls and "Authorization" not in token_calls[0]


def test_credentials_file_is_docker_compatible(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"auths": {"other:5000": {"auth": "eDp5"}}, "credsStore": "x"}))
    store = CredentialStore(path)
    assert store.get("https://other:5000/v2/") == ("x", "y")
    store.save("docker.io", "bob", "pw:with:colons")
    store.save("https://Registry.Example:443", "carol", "pw")
    data = json.loads(path.read_text())
    assert data["credsStore"] == "x"
    assert set(data["auths"]) == {
        "other:5000",
        "https://index.docker.io/v1/",
        "registry.example:443",
    }
    assert store.get("index.docker.io") == ("bob", "pw:with:colons")
    assert store.get("registry.example:443") == ("carol", "pw")
    assert mode(path) == 0o600
    assert store.remove("docker.io") and not store.remove("docker.io")
    assert store.get("docker.io") is None
    assert registry_key("https://registry-1.docker.io/v2/") == "docker.io"
