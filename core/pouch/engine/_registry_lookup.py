"""Asking registries about images without pulling them: ``docker search``, ``distribution``.

``RegistryLookup`` searches the configured registries (the insecure ones and
the mirrors in the settings, or the registry a search term names, as in
``localhost:5000/busy``) through their ``/v2/_catalog``, which the
distribution spec makes optional: when none answers, the search is refused
(501) rather than answered empty. ``inspect`` fetches a manifest (or index)
and reports its descriptor and platforms, as dockerd's
``/distribution/{name}/json``. Registry calls block: worker threads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import anyio
import msgspec

from pouch.distribution import Distribution, RegistryError, RegistryUnavailable
from pouch.errors import InvalidArgument, PouchError
from pouch.images import Descriptor, Index, Manifest, Platform, parse_reference

__all__ = ["DistributionInfo", "RegistryLookup", "SearchResult", "SearchUnavailable"]

_CATALOG_LIMIT = 1000


class SearchUnavailable(PouchError):
    """No registry to search answers ``/v2/_catalog`` (HTTP 501)."""

    status = 501


class SearchResult(msgspec.Struct, kw_only=True):
    name: str
    description: str = ""
    star_count: int = 0
    is_official: bool = False
    is_automated: bool = False


class DistributionInfo(msgspec.Struct, kw_only=True):
    descriptor: Descriptor
    platforms: list[Platform]


class _Catalog(msgspec.Struct):
    repositories: list[str] | None = None


class _Config(msgspec.Struct):
    architecture: str = ""
    os: str = ""
    variant: str = ""


class RegistryLookup:
    def __init__(self, distribution: Callable[[], Distribution]) -> None:
        self._distribution = distribution

    @property
    def distribution(self) -> Distribution:
        """The engine's registry client (made on first use, by ``Images``)."""
        return self._distribution()

    def _hosts(self, term: str) -> tuple[list[str], str]:
        first, sep, rest = term.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            return [first], rest
        settings = self.distribution.registries.settings
        hosts = [*settings.insecure]
        for mirror in settings.mirrors:
            host = mirror.split("://", 1)[-1].split("/", 1)[0]
            if host and host not in hosts:
                hosts.append(host)
        return hosts, term

    def _catalog(self, host: str) -> list[str]:
        client = self.distribution.registries.client(host)
        with client.request(
            "GET",
            f"/v2/_catalog?n={_CATALOG_LIMIT}",
            scopes=("registry:catalog:*",),
            what=f"the catalog of {host}",
        ) as response:
            raw = response.read(1 << 22)
        return msgspec.json.decode(raw, type=_Catalog).repositories or []

    def _search(self, term: str, limit: int) -> list[SearchResult]:
        hosts, wanted = self._hosts(term)
        answered, found = [], []
        for host in hosts:
            try:
                names = self._catalog(host)
            except (RegistryError, RegistryUnavailable, msgspec.DecodeError):
                continue
            answered.append(host)
            found += [SearchResult(name=f"{host}/{n}") for n in names if wanted in n]
        if not answered:
            where = ", ".join(hosts) or "no registry is configured (insecure or mirrors)"
            raise SearchUnavailable(
                f"search is not available: no registry answers /v2/_catalog ({where})"
            )
        return found[:limit]

    async def search(self, term: str, *, limit: int = 25) -> list[SearchResult]:
        """Repositories whose names contain ``term`` in the registries that list theirs."""
        if not term.strip():
            raise InvalidArgument("give a search term", field="term")
        if limit < 1 or limit > 100:
            raise InvalidArgument("limit must be between 1 and 100", field="limit")
        return await anyio.to_thread.run_sync(functools.partial(self._search, term, limit))

    def _inspect(self, name: str) -> DistributionInfo:
        ref = parse_reference(name)
        client = self.distribution.registries.client(ref.domain)
        raw, media_type, digest = client.get_manifest(ref.path, ref.digest or ref.tag or "latest")
        descriptor = Descriptor(mediaType=media_type, digest=digest, size=len(raw))
        probe = msgspec.json.decode(raw)
        if isinstance(probe, dict) and "manifests" in probe:
            index = msgspec.json.decode(raw, type=Index)
            platforms = [m.platform for m in index.manifests if m.platform is not None]
            return DistributionInfo(descriptor=descriptor, platforms=platforms)
        manifest = msgspec.json.decode(raw, type=Manifest)
        with client.request(
            "GET",
            f"/v2/{ref.path}/blobs/{manifest.config.digest}",
            scopes=(f"repository:{ref.path}:pull",),
            what=f"the config of {name}",
        ) as response:
            config = msgspec.json.decode(response.read(1 << 22), type=_Config)
        platform = Platform(architecture=config.architecture, os=config.os, variant=config.variant)
        return DistributionInfo(descriptor=descriptor, platforms=[platform])

    async def inspect(self, name: str) -> DistributionInfo:
        """The registry's descriptor of ``name``'s manifest and the platforms it serves."""
        return await anyio.to_thread.run_sync(self._inspect, name)
