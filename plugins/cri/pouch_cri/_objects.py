"""Finding CRI objects among the engine's containers, and the plugin's settings.

``[plugin.cri]`` settings: ``sandbox_image`` (default: the pause image built
here), ``network`` (default: the engine's default network), ``runtime`` (for
an empty RuntimeClass handler; default: the engine's default runtime),
``vm_runtimes`` (default ``["kata"]``: runtimes whose containers are VMs of
their own; a pod on one has its infra process on ``sandbox_runtime``, default
``runc``, and holds one container, whose VM takes the pod's network).
"""

from __future__ import annotations

from collections.abc import Mapping

from pouch.engine import Engine
from pouch.errors import InvalidArgument, NoSuchObject
from pouch.models import Container

from . import _labels as L
from ._pause import DEFAULT_SANDBOX_IMAGE

__all__ = ["CriObjects"]


class CriObjects:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        settings = engine.config.plugin_settings("cri")
        self.sandbox_image = str(settings.get("sandbox_image") or DEFAULT_SANDBOX_IMAGE)
        self.network = str(settings.get("network") or engine.config.default_network)
        self.default_runtime = str(settings.get("runtime") or "")
        self.vm_runtimes = {str(r) for r in settings.get("vm_runtimes", ["kata"])}
        self.sandbox_runtime = str(settings.get("sandbox_runtime") or "runc")

    def runtime_for(self, handler: str) -> str:
        """The pouch runtime a RuntimeClass handler names ("" is the default)."""
        if not handler:
            return self.default_runtime or self.engine.default_runtime
        if handler not in self.engine.kernel.runtimes.names():
            known = ", ".join(self.engine.kernel.runtimes.names())
            raise InvalidArgument(
                f"no runtime for handler {handler!r} (pouch has: {known})",
                field="runtime_handler",
            )
        return handler

    def infra_runtime(self, runtime: str) -> str:
        """Where a pod's infra process runs: with its containers, unless they are VMs."""
        if runtime not in self.vm_runtimes:
            return runtime
        if self.sandbox_runtime not in self.engine.kernel.runtimes.names():
            raise InvalidArgument(
                f"pods on {runtime} need the {self.sandbox_runtime} runtime for their infra"
                " process (pip install pouch-runc, or set [plugin.cri] sandbox_runtime)",
                field="runtime_handler",
            )
        return self.sandbox_runtime

    def _find(self, ref: str, kind: str, field: str) -> Container:
        if not ref:
            raise InvalidArgument(f"{field} is required", field=field)
        try:
            found = self.engine.lookup(ref)
        except NoSuchObject:
            found = None
        if found is None or found.config.labels.get(L.KIND) != kind:
            raise NoSuchObject(f"{'pod sandbox' if kind == 'sandbox' else kind} {ref} not found")
        return found

    def sandbox(self, ref: str, field: str = "pod_sandbox_id") -> Container:
        """The infra container of pod ``ref`` (an ID or a unique prefix)."""
        return self._find(ref, "sandbox", field)

    def container(self, ref: str, field: str = "container_id") -> Container:
        return self._find(ref, "container", field)

    def sandboxes(
        self, id_prefix: str = "", selector: Mapping[str, str] | None = None
    ) -> list[Container]:
        """The pods' infra containers, narrowed as a CRI filter asks (ID prefix, labels)."""
        return [
            c
            for c in self.engine.list(all=True)
            if L.is_sandbox(c) and c.id.startswith(id_prefix) and _matches(c, selector)
        ]

    def containers(
        self, sandbox_id: str = "", id_prefix: str = "", selector: Mapping[str, str] | None = None
    ) -> list[Container]:
        """The pods' containers: of one pod (its ID or a prefix), narrowed as a filter asks."""
        return [
            c
            for c in self.engine.list(all=True)
            if L.is_container(c)
            and c.config.labels.get(L.SANDBOX, "").startswith(sandbox_id)
            and c.id.startswith(id_prefix)
            and _matches(c, selector)
        ]


def _matches(container: Container, selector: Mapping[str, str] | None) -> bool:
    """Every key of a CRI label selector has its value among the CRI labels."""
    labels = L.cri_labels(container)
    return all(labels.get(k) == v for k, v in (selector or {}).items())
