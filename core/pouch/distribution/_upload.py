"""Blob uploads of the registry API: open a session, send the bytes, close it.

Owns the upload protocol of the distribution spec: ``POST …/blobs/uploads/``
(optionally ``?mount=…&from=…`` to mount a blob another repository of the
registry has), then either one ``PUT ?digest=`` with the whole blob or
``PATCH`` chunks with ``Content-Range`` followed by a closing ``PUT``, always
following the ``Location`` the registry last gave. ``RegistryClient`` exposes
these as methods; this module must not decide *what* to upload (``_push``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pouch.distribution._errors import RegistryError

if TYPE_CHECKING:
    from pouch.distribution._client import RegistryClient

__all__ = ["nothing", "start_upload", "upload"]

_OCTETS = {"Content-Type": "application/octet-stream"}


def nothing(count: int) -> None:
    """The default ``on_sent``: nobody is counting."""


def _scope(repo: str, action: str = "pull,push") -> str:
    return f"repository:{repo}:{action}"


def _with_query(location: str, **params: str) -> str:
    parts = urlsplit(location)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


class _Counting:
    """A file-like body that reports how many bytes ``http.client`` has read from it."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data:
            self._on_read(len(data))
        return data

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)


def start_upload(client: RegistryClient, repo: str, *, mount: str, source: str) -> str | None:
    path = f"/v2/{repo}/blobs/uploads/"
    scopes: tuple[str, ...] = (_scope(repo),)
    if mount and source:
        path += "?" + urlencode({"mount": mount, "from": source})
        scopes += (_scope(source, "pull"),)
    what = f"an upload to {client.host}/{repo}"
    response = client.request("POST", path, scopes=scopes, what=what, expect=(201, 202))
    response.close()
    if response.status == 201:
        return None
    location = response.header("Location")
    if not location:
        raise RegistryError(f"{client.host} opened an upload without a Location", host=client.host)
    return location


def upload(
    client: RegistryClient,
    repo: str,
    location: str,
    digest: str,
    size: int,
    data: BinaryIO,
    on_sent: Callable[[int], None],
    chunk_size: int | None,
) -> None:
    what = f"upload of {digest} to {client.host}/{repo}"
    scopes = (_scope(repo),)
    if chunk_size is None or size <= chunk_size:
        client.request(
            "PUT",
            _with_query(location, digest=digest),
            scopes=scopes,
            what=what,
            headers={**_OCTETS, "Content-Length": str(size)},
            body=_Counting(data, on_sent),  # type: ignore[arg-type]
            expect=(201, 204),
        ).close()
        return
    offset = 0
    while offset < size:
        chunk = data.read(min(chunk_size, size - offset))
        if not chunk:
            raise RegistryError(f"{what}: the local blob ended after {offset} of {size} bytes")
        headers = {
            **_OCTETS,
            "Content-Length": str(len(chunk)),
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
        }
        response = client.request(
            "PATCH",
            location,
            scopes=scopes,
            what=what,
            headers=headers,
            body=chunk,
            expect=(202, 204),
        )
        response.close()
        location = response.header("Location") or location
        offset += len(chunk)
        on_sent(len(chunk))
    client.request(
        "PUT", _with_query(location, digest=digest), scopes=scopes, what=what, expect=(201, 204)
    ).close()
