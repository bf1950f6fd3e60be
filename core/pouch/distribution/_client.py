"""The registry HTTP API v2 (OCI distribution-spec) against one endpoint.

Owns the requests of pull and push: manifests by tag or digest with the OCI
and Docker schema 2 ``Accept`` types (verified against their digest), blob
existence, streamed blob downloads, monolithic and chunked uploads,
cross-repository mounts and manifest uploads. Each request carries the
``Authorization`` the ``Authenticator`` gives; a 401 is answered once through
the challenge flow, and any other failure becomes a ``RegistryError`` naming
what was asked for (a ``RegistryUnavailable`` says whether another attempt
may help: a dropped connection, a stall, 5xx, 429). It must not touch the
content store or the image store, nor try a failed request again (the
pull does, ``_retry``). Blocking; thread-safe (one connection per request).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from typing import BinaryIO

import msgspec

from pouch.distribution import _upload
from pouch.distribution._auth import Authenticator
from pouch.distribution._errors import DigestMismatch, RegistryError, RegistryUnavailable, error_for
from pouch.distribution._http import Response, Transport, TransportError
from pouch.errors import NoSuchObject
from pouch.images import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST

__all__ = ["MANIFEST_ACCEPT", "Endpoint", "RegistryClient", "pull_scope", "push_scope"]

MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))
_SMALL = 4 << 20  # manifests larger than this are refused (the spec suggests 4 MiB)


def pull_scope(repo: str) -> str:
    return f"repository:{repo}:pull"


def push_scope(repo: str) -> str:
    return f"repository:{repo}:pull,push"


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where requests go: ``scheme://host``; ``registry`` is whose credentials apply."""

    host: str
    scheme: str = "https"
    registry: str = ""
    mirror: bool = False

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryClient:
    """API v2 requests to ``endpoint``; errors name ``endpoint.host``."""

    def __init__(
        self,
        endpoint: Endpoint,
        transport: Transport,
        auth: Authenticator,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        """``credentials``: given with the request (CRI ``auth``), over the stored ones."""
        self.endpoint = endpoint
        self._transport = transport
        self._auth = auth
        self._credentials = credentials

    @property
    def host(self) -> str:
        return self.endpoint.host

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: tuple[str, ...],
        what: str,
        headers: dict[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
        expect: tuple[int, ...] = (200,),
        manifest: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> Response:
        """Send an authenticated request; the response if its status is in ``expect``."""
        url = path if "://" in path else self.endpoint.url + path
        credentials = credentials or self._credentials
        start = body.tell() if body is not None and not isinstance(body, bytes) else 0
        registry = self.endpoint.registry or self.host
        for attempt in (1, 2):
            sent = dict(headers or {})
            authorization = self._auth.header(self.host, registry, scopes, credentials=credentials)
            if authorization:
                sent["Authorization"] = authorization
            if body is not None and not isinstance(body, bytes) and attempt > 1:
                body.seek(start)
            try:
                response = self._transport.request(method, url, headers=sent, body=body)
            except TransportError as exc:
                hint = (
                    f"; if {exc.host} uses a self-signed certificate, list it in the "
                    "insecure registries"
                    if exc.tls
                    else ""
                )
                raise self.unavailable(
                    f"cannot reach {exc.host} for {what}: {exc.reason}{hint}", exc
                ) from exc
            if response.status == 401 and attempt == 1:
                if authorization and authorization.startswith("Bearer "):
                    self._auth.forget(self.host, scopes)  # expired or too narrow: ask again
                if self._auth.remember(self.host, response.headers.get_all("WWW-Authenticate", [])):
                    response.close()
                    continue
            if response.status in expect:
                return response
            try:
                error_body = response.read(1 << 16)
            except TransportError:
                error_body = b""
            response.close()
            logged_in = (credentials or self._auth_credentials(registry)) is not None
            raise error_for(
                response.status,
                error_body,
                host=self.host,
                what=what,
                logged_in=logged_in and authorization is not None,
                manifest=manifest,
                retry_after=response.header("Retry-After"),
            )
        raise AssertionError("unreachable")

    def unavailable(self, message: str, exc: TransportError) -> RegistryUnavailable:
        """The ``RegistryUnavailable`` for a transport failure, transient or not."""
        causes = {
            "dropped": "connection dropped",
            "timeout": f"stalled (nothing received for {self._transport.timeout:g}s)",
        }
        return RegistryUnavailable(
            message,
            host=exc.host or self.host,
            transient=exc.transient,
            cause=causes.get(exc.kind, str(exc.reason)),
        )

    def _auth_credentials(self, registry: str) -> tuple[str, str] | None:
        return self._auth.credentials_for(registry)

    def ping(self, *, credentials: tuple[str, str] | None = None) -> None:
        """``GET /v2/``: succeeds when the endpoint speaks API v2 and lets us in."""
        self.request("GET", "/v2/", scopes=(), what="/v2/", credentials=credentials).close()

    # -- manifests --------------------------------------------------------------

    def get_manifest(self, repo: str, reference: str, *, what: str = "") -> tuple[bytes, str, str]:
        """``(bytes, media type, digest)`` of a manifest or index by tag or digest.

        The digest is computed from the bytes and checked against the
        reference when it is a digest, and against ``Docker-Content-Digest``.
        """
        what = what or f"{self.host}/{repo}:{reference}"
        with self.request(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            scopes=(pull_scope(repo),),
            what=what,
            headers={"Accept": MANIFEST_ACCEPT},
            manifest=True,
        ) as response:
            try:
                raw = response.read(_SMALL)
            except TransportError as exc:
                raise self.unavailable(
                    f"reading the manifest of {what}: {exc.reason}", exc
                ) from exc
            media_type = response.header("Content-Type").split(";")[0].strip()
            claimed = response.header("Docker-Content-Digest")
        digest = _sha256(raw)
        for expected in (reference if ":" in reference else "", claimed):
            if expected.startswith("sha256:") and expected != digest:
                raise DigestMismatch(
                    f"manifest of {what} from {self.host} does not match its digest: "
                    f"expected {expected}, got {digest}",
                    host=self.host,
                )
        try:
            declared = msgspec.json.decode(raw, type=_MediaType).mediaType
        except msgspec.MsgspecError:
            raise RegistryError(f"manifest of {what} from {self.host} is not JSON") from None
        return raw, declared or media_type, digest

    def put_manifest(self, repo: str, reference: str, raw: bytes, media_type: str) -> str:
        """Upload a manifest under a tag (or its digest); its digest."""
        digest = _sha256(raw)
        self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            scopes=(push_scope(repo),),
            what=f"manifest {self.host}/{repo}:{reference}",
            headers={"Content-Type": media_type},
            body=raw,
            expect=(200, 201, 202),
        ).close()
        return digest

    # -- blobs ------------------------------------------------------------------

    def blob_exists(self, repo: str, digest: str) -> bool:
        response = self.request(
            "HEAD",
            f"/v2/{repo}/blobs/{digest}",
            scopes=(pull_scope(repo),),
            what=f"blob {digest} of {self.host}/{repo}",
            expect=(200, 404),
        )
        response.close()
        return response.status == 200

    def open_blob(self, repo: str, digest: str, offset: int = 0) -> Response:
        """Start downloading a blob (redirects followed); ``NoSuchObject`` for a 404.

        With ``offset`` the transfer starts there (``Range``); a server that
        ignores the range answers 200 with the whole blob, which the caller
        of ``blob_chunks`` never sees: it skips the bytes it already has.
        """
        headers = {"Range": f"bytes={offset}-"} if offset else None
        response = self.request(
            "GET",
            f"/v2/{repo}/blobs/{digest}",
            scopes=(pull_scope(repo),),
            what=f"blob {digest} of {self.host}/{repo}",
            headers=headers,
            expect=(200, 206, 404),
        )
        if response.status == 404:
            response.close()
            raise NoSuchObject(f"blob {digest} not found in {self.host}/{repo}")
        return response

    def blob_chunks(self, repo: str, digest: str, offset: int = 0) -> Generator[bytes, None, None]:
        """The blob's bytes from ``offset``; a cut or stalled transfer raises a
        transient ``RegistryUnavailable`` after the bytes that did arrive.

        A registry that answers the range with the whole blob (200) is read
        from its start and the bytes before ``offset`` are dropped unseen.
        """
        with self.open_blob(repo, digest, offset) as response:
            skip = offset
            if response.status == 206:
                start = response.header("Content-Range").removeprefix("bytes ").split("-")[0]
                if start != str(offset):
                    raise RegistryError(
                        f"{self.host} answered a range request for {digest} from byte "
                        f"{offset} with {response.header('Content-Range')!r}",
                        host=self.host,
                    )
                skip = 0
            try:
                for chunk in response.chunks():
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                        if not chunk:
                            continue
                    yield chunk
            except TransportError as exc:
                raise self.unavailable(
                    f"download of {digest} from {self.host}/{repo} was interrupted: "
                    f"{exc.reason}; pull again to retry",
                    exc,
                ) from exc

    def start_upload(self, repo: str, *, mount: str = "", source: str = "") -> str | None:
        """Open an upload session (its location), or None when ``mount`` from ``source`` worked."""
        return _upload.start_upload(self, repo, mount=mount, source=source)

    def upload(
        self,
        repo: str,
        location: str,
        digest: str,
        size: int,
        data: BinaryIO,
        *,
        on_sent: Callable[[int], None] = _upload.nothing,
        chunk_size: int | None = None,
    ) -> None:
        """Send ``size`` bytes of ``data`` to the session at ``location`` and close it.

        One ``PUT`` when ``chunk_size`` is None or the blob fits in one chunk;
        otherwise ``PATCH`` chunks with ``Content-Range`` and a closing ``PUT``.
        """
        _upload.upload(self, repo, location, digest, size, data, on_sent, chunk_size)


class _MediaType(msgspec.Struct):
    mediaType: str = ""
