"""docker's prune filters as the engine's arguments.

Every prune takes ``until`` (created before: a Unix time, an RFC 3339 time or
a duration before now, as docker's CLI sends ``until=24h``), ``label`` and
``label!`` (``key`` or ``key=value``); some take more of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pouch.daemon.api_system import parse_timestamp
from pouch.daemon.routing import filters_arg
from pouch.errors import InvalidArgument

if TYPE_CHECKING:
    from pouch.daemon.http import Request

__all__ = ["bool_filter", "prune_filters"]

_COMMON = frozenset({"until", "label", "label!"})


def prune_filters(
    request: Request, *, also: frozenset[str] = frozenset(), without: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``(until=, labels=, not_labels=)`` for the engine, and the filters of ``also``.

    ``without`` names common filters this prune does not take. An unknown key
    is a 400 naming it and the keys there are.
    """
    filters = filters_arg(request)
    allowed = (_COMMON - without) | also
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(
                f"invalid filter {key!r} (use one of: {', '.join(sorted(allowed))})",
                field="filters",
            )
    until = [parse_timestamp(v, "filters") for v in filters.get("until", [])]
    selection: dict[str, Any] = {
        "until": min(until) if until else None,
        "labels": filters.get("label", []),
        "not_labels": filters.get("label!", []),
    }
    if "until" in without:
        del selection["until"]
    return selection, {k: v for k, v in filters.items() if k in also}


def bool_filter(values: list[str], key: str) -> bool:
    """A filter that is true or false (``dangling``, ``all``); a 400 otherwise."""
    given = {v.lower() for v in values}
    true, false = bool(given & {"true", "1"}), bool(given & {"false", "0"})
    if true == false or given - {"true", "1", "false", "0"}:
        raise InvalidArgument(
            f"invalid filter '{key}={','.join(values)}': use {key}=true or {key}=false",
            field="filters",
        )
    return true
