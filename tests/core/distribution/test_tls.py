"""HTTPS: verified by default, unverified for insecure hosts (loopback among them)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from pouch.config import RegistrySettings
from pouch.distribution import Registries, RegistryUnavailable
from pouch.engine import Engine
from pouch.testing.registry import REGISTRY_BINARY, Registry, running_registry
from pouch.testing.registry_images import push_test_image, single_layer_image

pytestmark = pytest.mark.anyio


class Strict(Registries):
    """Treats every host as secure, loopback included: TLS is always verified."""

    def is_insecure(self, host: str) -> bool:
        return False


@pytest.fixture
def tls_registry() -> Iterator[Registry]:
    if not REGISTRY_BINARY.is_file():
        pytest.skip("needs docker-registry (apt-get install docker-registry)")
    with running_registry(tls=True) as running:
        yield running


async def test_loopback_registries_with_self_signed_certificates_work(
    engine: Engine, tls_registry: Registry
) -> None:
    push = functools.partial(push_test_image, tls_registry.address, "secure")
    await anyio.to_thread.run_sync(push, single_layer_image())
    image = await engine.images.pull(f"{tls_registry.address}/secure")
    assert image.names == [f"{tls_registry.address}/secure:latest"]


def test_certificates_are_verified_for_secure_hosts(
    tls_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = RegistrySettings(auth_file=tmp_path / "auth.json")
    with pytest.raises(RegistryUnavailable) as caught:
        Strict(settings).client(tls_registry.address).ping()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert "insecure registries" in str(caught.value)

    # Trusting the certificate (as a CA) makes the same verified connection work.
    assert tls_registry.certificate is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.certificate))
    Strict(settings).client(tls_registry.address).ping()
