"""Writing a pouch plugin — start here.

A plugin is a module (or any object) with functions named after the hooks in
``pouch.hookspecs``, each decorated with ``pouch.hookimpl``::

    import pouch

    @pouch.hookimpl
    def pouch_add_runtimes(config):
        return [MyRuntime(config.plugin_settings("myruntime"))]

    @pouch.hookimpl
    def pouch_container_create(container, spec):
        spec.annotations["example.com/owner"] = container.config.labels.get("owner", "")

Package it as a distribution of its own that depends on ``pouch`` and names the
module in the ``pouch.plugins`` entry-point group::

    [project.entry-points."pouch.plugins"]
    myruntime = "pouch_myruntime.plugin"

The engine then finds it when installed (``pouch plugin ls``). A plugin that
cannot work on this host raises ``pouch.PluginSkip("reason")`` at import or from
a registration hook and is listed as skipped; any other exception lists it as
failed with the reason, and the engine goes on without it.

Hooks are synchronous: they return driver objects or adjust the spec in place.
Slow work belongs on the drivers' ``async`` methods (``pouch.drivers``), which
the engine awaits. Test a runtime plugin with the conformance suite in
``pouch.testing`` (see docs/plugins.md).
"""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT", "hookimpl"]

PROJECT = "pouch"

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a function as a hook implementation (public)."""

_hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks a hook specification; only ``pouch.hookspecs`` uses it."""
