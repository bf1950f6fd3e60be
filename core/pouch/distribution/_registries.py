"""Which endpoints serve a registry, how to reach them, and who we are there.

Owns ``Registries``: the settings (mirrors, insecure hosts, credentials file),
the shared ``Transport`` and ``Authenticator``, the choice between verified
HTTPS, unverified HTTPS and plain HTTP for each host (insecure hosts, and the
whole of 127.0.0.0/8 and localhost as docker treats them, are probed HTTPS
first and fall back to HTTP), the endpoint order of a pull (docker.io's
mirrors, then the origin), and ``login``/``logout``. It must not pull or push
images: that is ``_pull`` and ``_push``. Thread-safe; blocking.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Mapping, Sequence

from pouch import __version__
from pouch.config import RegistrySettings
from pouch.distribution._auth import Authenticator
from pouch.distribution._client import Endpoint, RegistryClient
from pouch.distribution._credentials import CredentialStore, registry_key
from pouch.distribution._errors import RegistryUnauthorized, RegistryUnavailable
from pouch.distribution._http import Transport, TransportError
from pouch.images._reference import DEFAULT_DOMAIN

__all__ = ["DOCKER_HUB_HOST", "Registries", "split_host"]

# Docker Hub's API lives on another host than its name.
DOCKER_HUB_HOST = "registry-1.docker.io"


def split_host(host: str) -> str:
    """The host name of ``host[:port]`` (``[::1]:5000`` → ``::1``)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _loopback(hostname: str) -> bool:
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


class Registries:
    """Reaching registries as ``settings`` say; one per engine, shared by its pulls."""

    def __init__(
        self,
        settings: RegistrySettings | None = None,
        *,
        timeout: float | None = None,
        credentials: Callable[[str], tuple[str, str] | None] | None = None,
        mirrors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``credentials(registry)`` replaces the credentials file (for tools and tests);
        ``timeout`` the settings' ``stall_timeout``.

        ``mirrors`` maps registries to their mirrors; the default is the
        settings' ``registry_mirrors`` with ``mirrors`` as docker.io's.
        """
        self.settings = settings or RegistrySettings()
        configured = {**self.settings.registry_mirrors, DEFAULT_DOMAIN: self.settings.mirrors}
        self.mirrors = {registry_key(k): list(v) for k, v in (mirrors or configured).items()}
        self.credentials = CredentialStore(self.settings.auth_file)
        self.transport = Transport(
            self.is_insecure,
            timeout=self.settings.stall_timeout if timeout is None else timeout,
            user_agent=f"pouch/{__version__}",
        )
        self.auth = Authenticator(self.transport, credentials or self.credentials.get)
        self._schemes: dict[str, str] = {}
        self._lock = threading.Lock()

    def is_insecure(self, host: str) -> bool:
        """Plain HTTP or unverified TLS allowed: configured, or a loopback address."""
        hostname = split_host(host).lower()
        if _loopback(hostname):
            return True
        for entry in self.settings.insecure:
            entry = entry.strip().lower().removeprefix("http://").removeprefix("https://")
            if entry in (host.lower(), hostname):
                return True
            if "/" in entry:  # a CIDR, as docker's insecure-registries allows
                try:
                    if ipaddress.ip_address(hostname) in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
        return False

    def endpoints(self, domain: str) -> list[Endpoint]:
        """Where to pull ``domain``'s images from, in order; scheme "" means "probe"."""
        found: list[Endpoint] = []
        for mirror in self.mirrors.get(registry_key(domain), []):
            text = mirror.strip().rstrip("/")
            scheme, sep, rest = text.partition("://")
            host = (rest if sep else text).split("/", 1)[0]
            found.append(
                Endpoint(
                    host=host,
                    scheme=scheme if sep else "",
                    registry=registry_key(host),
                    mirror=True,
                )
            )
        found.append(self.origin(domain))
        return found

    def origin(self, domain: str) -> Endpoint:
        key = registry_key(domain)
        host = DOCKER_HUB_HOST if key == DEFAULT_DOMAIN else domain
        return Endpoint(host=host, scheme="", registry=key)

    def client(
        self, endpoint: Endpoint | str, credentials: tuple[str, str] | None = None
    ) -> RegistryClient:
        """A client for ``endpoint`` (or the origin of registry ``domain``), scheme
        settled; ``credentials`` replace the stored ones for its requests."""
        if isinstance(endpoint, str):
            endpoint = self.origin(endpoint)
        if not endpoint.scheme:
            endpoint = Endpoint(
                host=endpoint.host,
                scheme=self._scheme(endpoint.host),
                registry=endpoint.registry,
                mirror=endpoint.mirror,
            )
        return RegistryClient(endpoint, self.transport, self.auth, credentials)

    def _scheme(self, host: str) -> str:
        if not self.is_insecure(host):
            return "https"
        with self._lock:
            known = self._schemes.get(host)
        if known:
            return known
        try:
            self.transport.request("GET", f"https://{host}/v2/", follow=False).close()
            scheme = "https"
        except TransportError as exc:
            refused = isinstance(exc.reason, ConnectionRefusedError | TimeoutError)
            if refused and not exc.tls:
                raise RegistryUnavailable(f"cannot reach {host}: {exc.reason}", host=host) from exc
            scheme = "http"  # a plain-HTTP server answers a TLS hello with garbage
        with self._lock:
            self._schemes[host] = scheme
        return scheme

    # -- login ------------------------------------------------------------------

    def login(self, registry: str, username: str, password: str) -> str:
        """Check the credentials against ``/v2/``, then store them; the status text."""
        key = registry_key(registry)
        client = self.client(key)
        self.auth.reset(client.host)
        try:
            client.ping(credentials=(username, password))
        except RegistryUnauthorized:
            raise RegistryUnauthorized(
                f"login to {key} failed: unauthorized: incorrect username or password",
                host=key,
                http_status=401,
            ) from None
        self.credentials.save(key, username, password)
        return "Login Succeeded"

    def logout(self, registry: str) -> str:
        """Forget the stored credentials of ``registry``; the status text."""
        key = registry_key(registry)
        self.auth.reset(DOCKER_HUB_HOST if key == DEFAULT_DOMAIN else key)
        if self.credentials.remove(key):
            return f"Removing login credentials for {key}"
        return f"Not logged in to {key}"
