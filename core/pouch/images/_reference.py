"""Image references (``docker.io/library/busybox:latest@sha256:…``) and docker's rules.

Owns parsing and normalising references the way the docker CLI does: a name
without a registry lives on ``docker.io`` and a one-component name there gets
``library/``; a reference with neither tag nor digest gets the tag ``latest``.
It must not look anything up: deciding whether a string is an image id or a
name is ``ImageStore.resolve``'s business.
"""

from __future__ import annotations

import re

import msgspec

from pouch.errors import InvalidArgument

__all__ = ["DEFAULT_DOMAIN", "Reference", "parse_reference"]

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_DEFAULT_TAG = "latest"
_MAX_NAME = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"

_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")


class Reference(msgspec.Struct, frozen=True, kw_only=True):
    """A normalised reference; ``str()`` gives the full form stored as an image name."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        """``domain/path``, the name without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def tagged(self) -> str:
        """``domain/path:tag`` (empty when the reference has no tag)."""
        return f"{self.repository}:{self.tag}" if self.tag else ""

    @property
    def digested(self) -> str:
        """``domain/path@digest`` (empty when the reference has no digest)."""
        return f"{self.repository}@{self.digest}" if self.digest else ""

    def familiar(self) -> str:
        """The short form users type: ``busybox:latest``, ``me/app:1``."""
        name = self.path
        if self.domain != DEFAULT_DOMAIN:
            name = f"{self.domain}/{name}"
        elif name.startswith(_OFFICIAL_PREFIX) and "/" not in name[len(_OFFICIAL_PREFIX) :]:
            name = name[len(_OFFICIAL_PREFIX) :]
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _invalid(text: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid reference {text!r}: {why}", field="reference")


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    # The first component is a registry only when it cannot be a repository
    # component: it has a dot or a port, is "localhost", or has capitals.
    if not slash or (
        "." not in first and ":" not in first and first != "localhost" and first == first.lower()
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text`` with docker's rules.

    ``busybox`` → ``docker.io/library/busybox:latest``; ``localhost:5000/x`` keeps
    its registry. With ``default_tag`` (the default) a reference that has neither
    tag nor digest gets ``latest``. Raises ``InvalidArgument`` naming the reference.
    """
    if not text:
        raise _invalid(text, "empty reference")
    if _HEX64_RE.match(text):
        raise _invalid(text, "a 64-character hexadecimal string is an image id, not a name")
    remainder, at, digest = text.partition("@")
    if at:
        if not _DIGEST_RE.match(digest):
            raise _invalid(text, f"bad digest {digest!r}")
        if digest.startswith("sha256:") and not _SHA256_RE.match(digest):
            raise _invalid(text, "a sha256 digest is 64 lowercase hexadecimal characters")
    name, tag = remainder, ""
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        name, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise _invalid(text, f"bad tag {tag!r}")
    if not name:
        raise _invalid(text, "missing repository name")
    domain, path = _split_domain(name)
    if path != path.lower():
        raise _invalid(text, "repository name must be lowercase")
    if not _DOMAIN_RE.match(domain):
        raise _invalid(text, f"bad registry host {domain!r}")
    if not _PATH_RE.match(path):
        raise _invalid(text, f"bad repository name {path!r}")
    if len(domain) + 1 + len(path) > _MAX_NAME:
        raise _invalid(text, f"repository name longer than {_MAX_NAME} characters")
    if default_tag and not tag and not digest:
        tag = _DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest)
