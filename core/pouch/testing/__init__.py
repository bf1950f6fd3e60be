"""Testing tools for pouch and its plugins, shipped with the core.

- ``pouch.testing.plugin``: the pytest plugin (loaded automatically through the
  ``pytest11`` entry point) with the ``engine``, ``engine_factory``,
  ``pouch_config``, ``pouch_runtime`` and ``busybox`` fixtures.
- ``pouch.testing.conformance``: the contract tests a plugin runs against
  itself with a one-line subclass per suite: ``RuntimeConformance``,
  ``SandboxConformance``, ``NetworkDriverConformance``, ``VolumeDriverConformance``.
- ``pouch.testing.networks``: ``InnerNetwork``, a network driver that pins a
  sandbox's namespace and puts an address in it, touching nothing outside.
- ``pouch.testing.images``: test images built offline (``LayerBuilder``,
  ``busybox_rootfs_tar``).
- ``pouch.testing.process_runtime``: a runtime of plain host processes, for
  testing the engine without root or a runtime binary.
- ``pouch.testing.faulty_proxy``: ``FaultyProxy``, a proxy in front of a test
  registry that drops, fails (500, 429 with ``Retry-After``), stalls or
  slows the requests its ``Rule``s pick.
"""

from __future__ import annotations

from pouch.testing.faulty_proxy import (
    Exchange,
    Fault,
    FaultyProxy,
    Rule,
    drop_after,
    error,
    stall,
    trickle,
)
from pouch.testing.images import (
    BUSYBOX_CONFIG,
    BusyboxMissing,
    LayerBuilder,
    busybox_layer,
    busybox_rootfs_tar,
)
from pouch.testing.plugin import (
    EngineFactory,
    import_busybox,
    remove_all_containers,
    runtime_unavailable,
)

__all__ = [
    "BUSYBOX_CONFIG",
    "BusyboxMissing",
    "EngineFactory",
    "Exchange",
    "Fault",
    "FaultyProxy",
    "LayerBuilder",
    "Rule",
    "busybox_layer",
    "busybox_rootfs_tar",
    "drop_after",
    "error",
    "import_busybox",
    "remove_all_containers",
    "runtime_unavailable",
    "stall",
    "trickle",
]
