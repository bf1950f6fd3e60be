"""How CRI objects live in the engine: pods and their containers are pouch
containers, told apart and described by labels.

A pod sandbox is its infra container (its ID is the pod's ID); a pod's
container is a pouch container sharing the infra's namespaces. The CRI's own
labels are kept as they are, so ``pouch ps`` shows them; what the CRI says
besides (metadata, annotations, the runtime handler, Linux settings the
engine's model has no field for) is JSON under keys of ``io.pouch.cri.``,
which never reach a CRI client. Everything survives a restart of pouchd with
the engine's records.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from pouch.models import Container

__all__ = [
    "ANNOTATIONS",
    "EXTRA",
    "KIND",
    "METADATA",
    "PREFIX",
    "SANDBOX",
    "container_name",
    "cri_labels",
    "is_container",
    "is_sandbox",
    "read",
    "sandbox_name",
    "written",
]

PREFIX = "io.pouch.cri."
KIND = PREFIX + "kind"  # "sandbox" or "container"
SANDBOX = PREFIX + "sandbox-id"  # a container's pod
METADATA = PREFIX + "metadata"
ANNOTATIONS = PREFIX + "annotations"
EXTRA = PREFIX + "extra"  # settings for the spec (see ``_spec``), the handler, the image

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def written(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def read(container: Container, key: str) -> dict[str, Any]:
    text = container.config.labels.get(key, "")
    if not text:
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def cri_labels(container: Container) -> dict[str, str]:
    """The labels the CRI client gave, without the engine's own."""
    return {k: v for k, v in container.config.labels.items() if not k.startswith(PREFIX)}


def is_sandbox(container: Container) -> bool:
    return container.config.labels.get(KIND) == "sandbox"


def is_container(container: Container) -> bool:
    return container.config.labels.get(KIND) == "container"


def _part(text: str) -> str:
    return _UNSAFE.sub("-", text)[:63] or "-"


def sandbox_name(name: str, namespace: str, uid: str, attempt: int) -> str:
    """The infra container's name, unique per pod metadata (as kubelet's dockershim named it)."""
    return "_".join(["k8s", "POD", *map(_part, (name, namespace, uid)), str(attempt)])


def container_name(name: str, pod: dict[str, Any], attempt: int) -> str:
    parts = (name, pod.get("name", ""), pod.get("namespace", ""), pod.get("uid", ""))
    return "_".join(["k8s", *map(_part, parts), str(attempt)])
