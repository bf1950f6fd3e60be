"""Registry authentication: the ``WWW-Authenticate`` challenge flow.

Owns parsing challenges (RFC 7235: ``Basic realm=…``, ``Bearer realm=…,
service=…,scope=…``), remembering each host's challenge so later requests
authenticate up front, and getting bearer tokens from the realm (docker's
token protocol: ``GET realm?service=…&scope=…`` with basic credentials when
there are any), cached per host, scope and user until shortly before they
expire. It must not decide which credentials exist (``CredentialStore``) nor
send registry API requests (``_client``). Thread-safe; blocking.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

import msgspec

from pouch.distribution._errors import RegistryError, RegistryUnavailable, error_for
from pouch.distribution._http import Transport, TransportError

__all__ = ["Authenticator", "Challenge", "basic_header", "parse_challenges"]

_PARAM = re.compile(r'\s*([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')
# Tokens without expires_in live 60 s (the token spec); renew this long before.
_DEFAULT_LIFETIME = 60.0
_MARGIN = 5.0

Credentials = tuple[str, str]


class Challenge(msgspec.Struct, frozen=True):
    scheme: str  # lower case: "basic" or "bearer"
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenges(values: list[str]) -> list[Challenge]:
    """Every challenge in the ``WWW-Authenticate`` header values, in order."""
    found: list[Challenge] = []
    for value in values:
        text = value.strip()
        while text:
            scheme, _, rest = text.partition(" ")
            params: dict[str, str] = {}
            position = 0
            while position < len(rest):
                match = _PARAM.match(rest, position)
                if match is None or match.end() == position:
                    break
                quoted, bare = match.group(2), match.group(3)
                params[match.group(1).lower()] = (
                    re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
                )
                position = match.end()
            found.append(Challenge(scheme=scheme.strip().lower(), params=params))
            text = rest[position:].strip()
    return found


def basic_header(credentials: Credentials) -> str:
    user, password = credentials
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _Token(msgspec.Struct):
    token: str = ""
    access_token: str = ""
    expires_in: int = 0


class Authenticator:
    """Authorization headers for registry requests, per host and scope."""

    def __init__(
        self, transport: Transport, credentials: Callable[[str], Credentials | None]
    ) -> None:
        self._transport = transport
        self._credentials = credentials
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}

    def remember(self, host: str, header_values: list[str]) -> bool:
        """Note ``host``'s challenge from a 401; True if it is one we can answer."""
        for challenge in parse_challenges(header_values):
            if challenge.scheme == "basic" or (challenge.scheme == "bearer" and challenge.realm):
                # The challenge's scope belongs to the request that got it; each
                # request asks for its own, so only realm and service are kept.
                params = {k: v for k, v in challenge.params.items() if k != "scope"}
                with self._lock:
                    self._challenges[host] = Challenge(scheme=challenge.scheme, params=params)
                return True
        return False

    def credentials_for(self, registry: str) -> Credentials | None:
        return self._credentials(registry)

    def knows(self, host: str) -> bool:
        with self._lock:
            return host in self._challenges

    def header(
        self,
        host: str,
        registry: str,
        scopes: tuple[str, ...],
        *,
        credentials: Credentials | None = None,
    ) -> str | None:
        """The ``Authorization`` value for a request to ``host``, or None (anonymous).

        ``registry`` is the name credentials are stored under (a mirror's
        requests use the mirror's own); ``credentials`` overrides the store
        (login checks new ones before saving them).
        """
        with self._lock:
            challenge = self._challenges.get(host)
        if challenge is None:
            return None
        creds = credentials if credentials is not None else self._credentials(registry)
        if challenge.scheme == "basic":
            return basic_header(creds) if creds else None
        return "Bearer " + self._token(host, challenge, scopes, creds)

    def reset(self, host: str) -> None:
        """Drop every cached token for ``host`` (its credentials changed)."""
        with self._lock:
            for key in [k for k in self._tokens if k[0] == host]:
                del self._tokens[key]

    def forget(self, host: str, scopes: tuple[str, ...]) -> None:
        """Drop cached tokens for ``scopes`` (after the registry refused one)."""
        with self._lock:
            for key in [k for k in self._tokens if k[0] == host and k[1] == " ".join(scopes)]:
                del self._tokens[key]

    def _token(
        self,
        host: str,
        challenge: Challenge,
        scopes: tuple[str, ...],
        creds: Credentials | None,
    ) -> str:
        wanted = list(scopes)
        # Tokens are kept per credentials: a pull with others never reuses them.
        who = hashlib.sha256("\0".join(creds).encode()).hexdigest() if creds else ""
        key = (host, " ".join(scopes), challenge.realm, who)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        token, lifetime = self._fetch(challenge, wanted, creds)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(lifetime - _MARGIN, 1.0))
        return token

    def _fetch(
        self, challenge: Challenge, scopes: list[str], creds: Credentials | None
    ) -> tuple[str, float]:
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        query += [("scope", scope) for scope in scopes if scope]
        if creds:
            query.append(("account", creds[0]))
        realm = challenge.realm
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        headers = {"Authorization": basic_header(creds)} if creds else {}
        auth_host = urlsplit(realm).netloc
        try:
            with self._transport.request("GET", url, headers=headers) as response:
                body = response.read()
                status = response.status
        except TransportError as exc:
            raise RegistryUnavailable(
                f"cannot reach the token service {realm}: {exc.reason}", host=auth_host
            ) from exc
        if status != 200:
            raise error_for(
                status,
                body,
                host=auth_host,
                what=f"a token for {' '.join(scopes) or 'login'}",
                logged_in=creds is not None,
            )
        try:
            answer = msgspec.json.decode(body, type=_Token)
        except msgspec.MsgspecError as exc:
            raise RegistryError(f"token service {realm} sent an invalid answer: {exc}") from None
        token = answer.token or answer.access_token
        if not token:
            raise RegistryError(f"token service {realm} sent no token", host=auth_host)
        return token, float(answer.expires_in or _DEFAULT_LIFETIME)
