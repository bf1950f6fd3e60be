"""The spec hook: a pod container's Linux settings the engine's model lacks.

Masked and read-only paths as the CRI gives them (kubelet sends the full
lists; none given keeps the engine's defaults), the OOM score adjustment
(raised to what the host allows: a negative one needs CAP_SYS_RESOURCE),
ambient capabilities and the root filesystem's propagation for rslave and
rshared mounts. Only containers the CRI made carry the ``EXTRA`` label.
"""

from __future__ import annotations

from pouch.models import Container
from pouch.oci import Spec

from . import _labels as L

__all__ = ["adjust_spec"]


def _capability(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") else f"CAP_{name}"


def adjust_spec(container: Container, spec: Spec) -> None:
    if not L.is_container(container):
        return
    extra = L.read(container, L.EXTRA)
    linux = spec.linux
    if linux is not None:
        if extra.get("has_paths"):
            linux.masked_paths = list(extra.get("masked_paths", []))
            linux.readonly_paths = list(extra.get("readonly_paths", []))
        if extra.get("rootfs_propagation"):
            linux.rootfs_propagation = extra["rootfs_propagation"]
    process = spec.process
    if process is None:
        return
    if extra.get("oom_score_adj", 0) > 0:
        process.oom_score_adj = int(extra["oom_score_adj"])
    ambient = [_capability(c) for c in extra.get("ambient", [])]
    if ambient and process.capabilities is not None:
        caps = process.capabilities
        for name in (n for n in ambient if n in caps.bounding):
            for chosen in (caps.ambient, caps.inheritable, caps.permitted, caps.effective):
                if name not in chosen:
                    chosen.append(name)
