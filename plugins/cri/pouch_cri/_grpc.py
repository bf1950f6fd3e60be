"""The gRPC edge: engine errors as gRPC status codes, and handler tables.

Every method is an ``async def method(request, context)`` of a service
object; ``handler`` registers the ones a service implements (the rest answer
UNIMPLEMENTED, as gRPC does for a method it does not know). An engine error
becomes the status its HTTP status stands for, with its message; anything
else is INTERNAL with a short message, and the traceback goes to the log,
never to the client.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from pouch.errors import PouchError

__all__ = ["Method", "handler"]

log = logging.getLogger("pouch.cri")

Method = Callable[[Any, Any], Awaitable[Any]]

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,  # a registry that cannot be reached
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def _translated(name: str, method: Method) -> Method:
    @functools.wraps(method)
    async def call(request: Any, context: Any) -> Any:
        try:
            return await method(request, context)
        except PouchError as error:
            code = _CODES.get(error.status, grpc.StatusCode.UNKNOWN)
            await context.abort(code, str(error))
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            log.exception("cri %s failed", name)
            await context.abort(grpc.StatusCode.INTERNAL, f"{name}: {error}")

    return call


def handler(service: str, implementations: list[object], messages: Any) -> Any:
    """A generic handler serving the methods of ``implementations`` as ``service``'s.

    ``messages`` is the generated module: a method ``Foo`` takes ``FooRequest``
    and answers ``FooResponse``.
    """
    table = {}
    for implementation, name in ((i, n) for i in implementations for n in dir(i)):
        if not name[:1].isupper():
            continue
        request = getattr(messages, f"{name}Request")
        response = getattr(messages, f"{name}Response")
        table[name] = grpc.unary_unary_rpc_method_handler(
            _translated(name, getattr(implementation, name)),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service, table)
