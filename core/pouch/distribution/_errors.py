"""The errors a registry conversation ends in, each saying what to do next.

Owns the exception classes of ``pouch.distribution`` and turning an HTTP
answer (status plus the distribution-spec's ``{"errors": [...]}`` body and
``Retry-After``) into one of them, naming the reference and the registry. A
``RegistryUnavailable`` says whether trying again may help (``transient``),
why in a few words (``cause``) and how long the registry asked to be left
alone (``retry_after``). It must not send anything.
"""

from __future__ import annotations

import email.utils
import time

import msgspec

from pouch.errors import NoSuchImage, PouchError

__all__ = [
    "DigestMismatch",
    "ImageNotFound",
    "PlatformNotAvailable",
    "RegistryDenied",
    "RegistryError",
    "RegistryUnauthorized",
    "RegistryUnavailable",
    "RetriesExhausted",
    "error_for",
    "parse_retry_after",
]


class RegistryError(PouchError):
    """A registry answered with an error, or could not be reached."""

    status = 500

    def __init__(self, message: str, *, host: str = "", code: str = "", http_status: int = 0):
        super().__init__(message)
        self.host = host
        self.code = code
        self.http_status = http_status


class RegistryUnauthorized(RegistryError):
    """401: no credentials, or the stored ones were rejected."""

    status = 401


class RegistryDenied(RegistryError):
    """403: authenticated, but not allowed."""

    status = 403


class RegistryUnavailable(RegistryError):
    """Unreachable, rate-limited (429), failing (5xx), stalled or cut off mid-transfer.

    ``transient``: another attempt may succeed (a dropped connection, a
    timeout, 5xx, 429), unlike a refused connection or a TLS failure;
    ``cause``: what went wrong, in a few words ("connection dropped",
    "HTTP 503"); ``retry_after``: the seconds a 429 or 503 asked for.
    """

    status = 502

    def __init__(
        self,
        message: str,
        *,
        host: str = "",
        code: str = "",
        http_status: int = 0,
        transient: bool = False,
        cause: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, host=host, code=code, http_status=http_status)
        self.transient = transient
        self.cause = cause or message
        self.retry_after = retry_after


class RetriesExhausted(RegistryUnavailable):
    """A manifest or blob kept failing for every attempt a pull may make.

    ``attempts``: how many were made; ``last``: the failure of the last one.
    """

    def __init__(self, message: str, *, attempts: int, last: RegistryUnavailable) -> None:
        super().__init__(
            message,
            host=last.host,
            code=last.code,
            http_status=last.http_status,
            cause=last.cause,
            retry_after=last.retry_after,
        )
        self.attempts = attempts
        self.last = last


class DigestMismatch(RegistryError):
    """A blob or manifest whose content is not what its digest promises."""

    status = 502


class ImageNotFound(NoSuchImage):
    """404 for a manifest: the repository or the tag does not exist there."""

    def __init__(self, ref: str, message: str) -> None:
        PouchError.__init__(self, message)
        self.ref = ref


class PlatformNotAvailable(NoSuchImage):
    """The index has no manifest for the platform asked for; lists the ones it has."""

    def __init__(self, ref: str, wanted: str, available: list[str]) -> None:
        listed = ", ".join(available) if available else "none"
        PouchError.__init__(
            self,
            f"no matching manifest for {wanted} in {ref} (available platforms: {listed}); "
            "choose one with --platform",
        )
        self.ref = ref
        self.wanted = wanted
        self.available = available


class _Detail(msgspec.Struct):
    code: str = ""
    message: str = ""


class _Body(msgspec.Struct):
    errors: list[_Detail] = []


def _details(body: bytes) -> tuple[str, str]:
    """The first error code and a readable ``code: message`` text from an error body."""
    try:
        errors = msgspec.json.decode(body, type=_Body).errors
    except msgspec.MsgspecError:
        return "", body[:200].decode("utf-8", "replace").strip()
    if not errors:
        return "", ""
    text = "; ".join(
        f"{e.code.lower().replace('_', ' ')}: {e.message}" if e.code else e.message for e in errors
    )
    return errors[0].code, text


def parse_retry_after(value: str, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds from now: a number of seconds or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_for(
    status: int,
    body: bytes,
    *,
    host: str,
    what: str,
    logged_in: bool = False,
    manifest: bool = False,
    retry_after: str = "",
) -> PouchError:
    """The exception for an unexpected answer ``status`` about ``what`` from ``host``.

    ``manifest`` makes a 404 an ``ImageNotFound`` (what a pull of a missing
    image gets); ``logged_in`` says whether stored credentials were sent;
    ``retry_after`` is the answer's ``Retry-After`` header, if any.
    """
    code, detail = _details(body)
    suffix = f" ({detail})" if detail else ""
    if status == 401:
        if logged_in:
            text = (
                f"unauthorized: {host} refused {what} with the stored credentials{suffix}; "
                f"check the name, or run `pouch login {host}` with an account that may use it"
            )
        else:
            text = (
                f"unauthorized: {what} on {host} needs authentication{suffix}; "
                f"run `pouch login {host}`"
            )
        return RegistryUnauthorized(text, host=host, code=code, http_status=status)
    if status == 403:
        return RegistryDenied(
            f"denied: access to {what} on {host} is forbidden{suffix}; check the name and "
            f"that your account may use it (`pouch login {host}`)",
            host=host,
            code=code,
            http_status=status,
        )
    if status == 404 and manifest:
        hint = "the repository does not exist" if code == "NAME_UNKNOWN" else "no such tag"
        return ImageNotFound(
            what,
            f"no such image: {what}: not found on {host}: {hint}{suffix}; check the name and tag",
        )
    if status == 429:
        return RegistryUnavailable(
            f"toomanyrequests: {host} is rate-limiting requests for {what}{suffix}; wait and "
            f"retry, log in (`pouch login {host}`) or configure a registry mirror",
            host=host,
            code=code,
            http_status=status,
            transient=True,
            cause="rate-limited (HTTP 429)",
            retry_after=parse_retry_after(retry_after),
        )
    if status >= 500:
        return RegistryUnavailable(
            f"{host} failed with HTTP {status} for {what}{suffix}; the registry is having "
            "trouble, try again later",
            host=host,
            code=code,
            http_status=status,
            transient=status not in (501, 505),  # not implemented: the same next time
            cause=f"HTTP {status}",
            retry_after=parse_retry_after(retry_after),
        )
    return RegistryError(
        f"{host} answered HTTP {status} for {what}{suffix}",
        host=host,
        code=code,
        http_status=status,
    )
