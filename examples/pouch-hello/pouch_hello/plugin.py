"""The hooks of pouch-hello: a greeting on every container.

``pouch_container_create`` adds an annotation and an environment variable to
each new container's OCI runtime spec, before any runtime sees it; that is the
place for every feature that changes what a container gets (extra mounts,
devices, limits). ``pouch_engine_started`` logs a line once the engine is ready.

Everything here is synchronous and cheap: hooks run inside the engine's
operations. A plugin with slow work returns driver objects from a registration
hook instead and does the work in their ``async`` methods.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pouch
from pouch.oci import merge_env

if TYPE_CHECKING:
    from pouch.engine import Engine
    from pouch.models import Container
    from pouch.oci import Spec

__all__ = ["ANNOTATION", "ENV", "pouch_container_create", "pouch_engine_started"]

log = logging.getLogger(__name__)

# Annotation keys are namespaced by a domain the plugin owns (OCI convention).
ANNOTATION = "io.pouch.hello/greeting"
ENV = "HELLO_PLUGIN=1"


@pouch.hookimpl
def pouch_container_create(container: Container, spec: Spec) -> None:
    """Greet the container by name and tell its process the plugin was here."""
    spec.annotations[ANNOTATION] = f"hello, {container.name}"
    if spec.process is None:  # the engine always builds one; nothing to run, nothing to tell
        return
    # merge_env replaces a HELLO_PLUGIN the user set rather than adding a second
    # one: an environment with one name twice is ambiguous.
    spec.process.env = merge_env(spec.process.env, [ENV])


@pouch.hookimpl
def pouch_engine_started(engine: Engine) -> None:
    """Say hello once the engine has reconciled its state and takes requests."""
    loaded = [p.name for p in engine.plugins() if p.state == "loaded"]
    log.info("hello from pouch-hello: engine ready with plugins %s", ", ".join(loaded))
