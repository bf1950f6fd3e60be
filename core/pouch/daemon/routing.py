"""Routes, API versions, query parameters, JSON bodies and errors as docker answers them.

Owns the translation between a ``Request`` and a handler call: the version
prefix (``/v1.41/...``, negotiated down to 1.24, or none), path templates
(``{name}`` one segment, ``{name:path}`` the rest, for image names with
slashes), docker's query-parameter conventions, msgspec decoding of bodies,
and the mapping of exceptions to ``{"message": ...}`` with their status
(a full disk the engine did not name, ``ENOSPC``/``EDQUOT``, becomes the
507 of ``NoSpace`` too). It must not know what any endpoint does.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import msgspec

from pouch import __version__
from pouch.daemon._unknown import unknown_fields
from pouch.daemon.http import BodyTooLarge, Reply, Request, Response
from pouch.errors import InvalidArgument, NoSpace, PouchError, no_space, writing
from pouch.telemetry import tracer

__all__ = [
    "API_VERSION",
    "MIN_API_VERSION",
    "App",
    "Router",
    "decode_body",
    "error_reply",
    "filters_arg",
    "flag",
    "int_arg",
    "json_reply",
    "spool_body",
    "text_arg",
]

log = logging.getLogger("pouch.daemon")

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
_MAX = (1, 41)
_MIN = (1, 24)
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
# Clients whose bodies may carry fields of newer API versions than ours: for
# them unknown fields are ignored; any other client is told about them.
DOCKER_AGENTS = (
    "Docker-Client/",
    "docker-sdk-python/",
    "docker-py/",
    "Go-http-client/",
    "tc-python/",  # testcontainers, through docker-py
    "docker-compose/",  # docker-compose 1.x, through docker-py
)

T = TypeVar("T")
Ctx = TypeVar("Ctx")
Handler = Callable[[Any, Request], Awaitable[Reply]]

_encoder = msgspec.json.Encoder()


def json_reply(value: object, status: int = 200) -> Response:
    return Response(status, _encoder.encode(value) + b"\n")


def error_reply(status: int, message: str) -> Response:
    return json_reply({"message": message}, status)


def common_headers() -> list[tuple[str, str]]:
    return [
        ("Api-Version", API_VERSION),
        ("Docker-Experimental", "false"),
        ("Ostype", "linux"),
        ("Server", f"pouchd/{__version__} (linux)"),
    ]


# -- query parameters, as docker reads them ---------------------------------------


def text_arg(request: Request, name: str, default: str = "") -> str:
    values = request.query.get(name)
    return values[-1] if values else default


def flag(request: Request, name: str, default: bool = False) -> bool:
    """docker's booleans: absent → default; "", 0, no, false, none → false; else true."""
    if name not in request.query:
        return default
    return text_arg(request, name).strip().lower() not in ("", "0", "no", "false", "none")


def int_arg(request: Request, name: str, default: int | None = None) -> int | None:
    text = text_arg(request, name).strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"{text!r} is not an integer", field=name) from None


def json_arg(request: Request, name: str) -> Any:
    """The query parameter ``name`` decoded as JSON; None when absent or empty."""
    text = text_arg(request, name).strip()
    if not text:
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"not JSON: {exc}", field=name) from None


def filters_arg(request: Request, name: str = "filters") -> dict[str, list[str]]:
    """``{"key": ["v"]}`` or the old ``{"key": {"v": true}}`` form → key → values."""
    raw = json_arg(request, name)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgument("expected a JSON object of lists", field=name)
    result: dict[str, list[str]] = {}
    for key, values in raw.items():
        if isinstance(values, dict):
            values = [k for k, on in values.items() if on]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidArgument(f"filter {key!r} must be a list of strings", field=name)
        result[key] = values
    return result


async def decode_body(request: Request, kind: type[T], *, limit: int | None = None) -> T:
    """The JSON body as ``kind``; unknown fields are errors except for docker's clients."""
    raw = await (request.body() if limit is None else request.body(limit))
    if not raw.strip():
        raise InvalidArgument("the request needs a JSON body", field="body")
    value = msgspec.json.decode(raw, type=kind)
    agent = request.headers.get("user-agent", "")
    if not agent.startswith(DOCKER_AGENTS):
        unknown = unknown_fields(msgspec.json.decode(raw), kind)
        if unknown:
            raise InvalidArgument(f"unknown field {unknown[0]}", field="body")
    return value


# -- routing -------------------------------------------------------------------------


class Router:
    """Handlers by method and path template; modules fill one each."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, _compile(template), handler))
            return handler

        return register

    def include(self, other: Router) -> None:
        self.routes.extend(other.routes)


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    pattern = re.sub(r"\\\{(\w+):path\\\}", r"(?P<\1>.+)", pattern)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(f"^{pattern}$")


class App:
    """Dispatches requests to ``router``'s handlers with ``context`` as first argument."""

    def __init__(self, router: Router, context: object) -> None:
        self.router = router
        self.context = context

    async def dispatch(self, request: Request) -> Reply:
        try:
            handler = self._resolve(request)
            with tracer.start_as_current_span(
                _span_name(handler),
                attributes={"http.request.method": request.method, "url.path": request.path},
            ):
                return await handler(self.context, request)
        except BodyTooLarge as exc:
            return error_reply(413, str(exc))
        except PouchError as exc:
            return _pouch_error(request, exc)
        except msgspec.ValidationError as exc:
            return error_reply(400, f"invalid body: {exc}")
        except msgspec.DecodeError as exc:
            return error_reply(400, f"malformed JSON body: {exc}")
        except (anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError):
            raise
        except Exception as exc:
            full = no_space(exc)
            if full is not None:
                return _pouch_error(request, full)
            log.exception("%s %s failed", request.method, request.target)
            return error_reply(500, f"internal error: {type(exc).__name__}: {exc}")

    def _resolve(self, request: Request) -> Handler:
        path = request.path
        match = _VERSIONED.match(path)
        if match:
            version = (int(match[1]), int(match[2]))
            if version > _MAX:
                raise InvalidArgument(
                    f"client version {match[1]}.{match[2]} is too new. "
                    f"Maximum supported API version is {API_VERSION}"
                )
            if version < _MIN:
                raise InvalidArgument(
                    f"client version {match[1]}.{match[2]} is too old. "
                    f"Minimum supported API version is {MIN_API_VERSION}, please upgrade "
                    "your client to a newer version"
                )
            request.api_version = version
            path = match[3]
        request.route_path = path
        method = "GET" if request.method == "HEAD" else request.method
        allowed = False
        for route_method, pattern, handler in self.router.routes:
            found = pattern.match(path)
            if found is None:
                continue
            if route_method != method:
                allowed = True
                continue
            request.params = found.groupdict()
            return handler
        if allowed:
            raise _MethodNotAllowed(request.method)
        raise _NotFound()


def _pouch_error(request: Request, exc: PouchError) -> Response:
    if isinstance(exc, NoSpace):  # the host needs room: worth the operator's attention
        log.warning("%s %s: %s", request.method, request.path, exc.message)
    return error_reply(exc.status, exc.message)


@functools.cache
def _span_name(handler: Handler) -> str:
    """``pouch.api.containers.start``: the handler's module (``api_containers``) and name."""
    area = handler.__module__.rpartition(".")[2].removeprefix("api_")
    return f"pouch.api.{area}.{handler.__name__}"


class _NotFound(PouchError):
    status = 404

    def __init__(self) -> None:
        super().__init__("page not found")


class _MethodNotAllowed(PouchError):
    status = 405

    def __init__(self, method: str) -> None:
        super().__init__(f"method {method} not allowed on this path")


async def spool_body(request: Request, directory: Path) -> Path:
    """The request body in a new temporary file in ``directory`` (removed by the caller)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with writing(f"an upload in {directory}", area=directory):
        fd, name = tempfile.mkstemp(dir=directory, suffix=".tar")
    try:
        with writing(f"the uploaded tarball {name}", area=directory), os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                await anyio.to_thread.run_sync(out.write, chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)
