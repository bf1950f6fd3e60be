"""docker's ``ps --filter`` keys applied to container records, and the filters every
``prune`` takes (``until``, ``label``, ``label!``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pouch.errors import InvalidArgument
from pouch.models import Container

__all__ = ["FILTER_KEYS", "check_filters", "container_matches", "has_label", "prune_selects"]

FILTER_KEYS = frozenset(
    {"id", "name", "label", "status", "exited", "ancestor", "runtime", "health"}
)
HEALTH_VALUES = ("starting", "healthy", "unhealthy", "none")


def check_filters(filters: dict[str, list[str]]) -> None:
    for key in filters:
        if key not in FILTER_KEYS:
            raise InvalidArgument(
                f"unknown filter {key!r} (use one of: {', '.join(sorted(FILTER_KEYS))})",
                field="filters",
            )
    for value in filters.get("health", []):
        if value not in HEALTH_VALUES:
            raise InvalidArgument(
                f"unrecognised filter value for health: {value!r}"
                f" (use one of: {', '.join(HEALTH_VALUES)})",
                field="filters",
            )


def container_matches(container: Container, filters: dict[str, list[str]]) -> bool:
    """Every key must match: one of its values, except ``label``, whose values must all
    match (as docker: ``--filter label=a --filter label=b`` is both)."""
    for key, values in filters.items():
        combine = all if key == "label" else any
        if not combine(_match(container, key, value) for value in values):
            return False
    return True


def _match(container: Container, key: str, value: str) -> bool:
    if key == "id":
        return container.id.startswith(value)
    if key == "name":
        return value.lstrip("/") in container.name
    if key == "label":
        return has_label(container.config.labels, value)
    if key == "status":
        return container.state.status == value
    if key == "exited":
        return container.state.status == "exited" and str(container.state.exit_code) == value
    if key == "health":
        health = container.state.health
        return (health.status if health is not None else "none") == value
    if key == "ancestor":
        return value in (container.config.image, container.image_id)
    return container.runtime == value


def has_label(labels: Mapping[str, str], spec: str) -> bool:
    """``spec`` is ``key`` (any value) or ``key=value``."""
    key, sep, value = spec.partition("=")
    return key in labels and (not sep or labels[key] == value)


def prune_selects(
    created: float,
    own: Mapping[str, str],
    *,
    until: float | None = None,
    labels: Sequence[str] = (),
    not_labels: Sequence[str] = (),
) -> bool:
    """Whether a prune's filters take an object: created before ``until``, with every
    label of ``labels`` and none of ``not_labels`` (docker's ``label!``)."""
    if until is not None and not created < until:
        return False
    return all(has_label(own, s) for s in labels) and not any(has_label(own, s) for s in not_labels)
