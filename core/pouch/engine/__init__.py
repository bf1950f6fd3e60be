"""The engine: one lifecycle state machine for every runtime, built from parts.

``Engine`` (``_facade``) is a thin facade; the work is done by collaborators
that each own their data and receive their dependencies in their
constructors: ``Records`` (the container table, locks, events), ``Networks``,
``Sandboxes`` (namespace, attachments, /etc files, a runtime's own sandbox),
``Volumes`` (the volume API; stage and publish per container), ``Runs``
(start, exit, restart policy), ``Containers`` (the state machine's public
operations), ``Creator``, ``ContainerIO`` (exec, logs, stats),
``Attachments``, ``Images``, ``ImageArchives``, ``Reconciler``,
``ContainerFiles`` (docker cp, export, diff), ``Commits`` (commit, history),
``DiskUsage`` (df, measured prunes) and ``RegistryLookup`` (search,
distribution).

What the engine must not do: look at host PIDs or mount anything itself. It
hands runtimes a sandbox, a spec and mount *descriptions*.
"""

from __future__ import annotations

from pouch.engine._facade import Engine

__all__ = ["Engine"]
