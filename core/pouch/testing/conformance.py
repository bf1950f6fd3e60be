"""Conformance suites: the same contract tests for every runtime, network and volume plugin.

A plugin runs a suite against itself with a one-line subclass per suite:

- ``RuntimeConformance`` — a runtime's lifecycle, logs, exec, pause, limits,
  isolation, terminals, mounts, and containers outliving a killed ``pouchd``::

      class TestRunc(RuntimeConformance):
          runtime = "runc"

- ``SandboxConformance`` — what a sandbox gives its containers (hostname, hosts
  and resolv.conf files, a network namespace of its own, nothing left after
  removal) and, for a runtime with ``Capability.SANDBOXES``, its
  ``SandboxRuntime`` calls::

      class TestRuncSandbox(SandboxConformance):
          runtime = "runc"

- ``NetworkDriverConformance`` — a network driver's contract, on the driver
  object and through the engine, and what each capability it declares
  promises (``NETNS``, ``PORTS``, ``NAMES``, ``ISOLATION``, ``GC``)::

      class TestBridge(NetworkDriverConformance):
          driver = "bridge"

- ``VolumeDriverConformance`` — create, get, list, remove, and stage, publish,
  unpublish, unstage each repeated; containers sharing a volume's data::

      class TestLocal(VolumeDriverConformance):
          driver = "local"

Tests go through the public ``Engine`` API, and the driver objects the
engine's kernel holds, each bounded in time. A test needing an optional
capability skips when the driver's ``describe()`` does not list it, and a
whole class skips, with the plugin's own reason, when its runtime or driver
is not available on this host. Override ``timeout`` (seconds per test) for
slow runtimes such as VMs. Each suite class has ``SuiteBase`` as its only
base; its tests live in the ``_*_tests`` modules, bound in by ``with_tests``.
"""

from __future__ import annotations

from pouch.testing import (
    _daemon_tests,
    _feature_tests,
    _isolation_tests,
    _lifecycle_tests,
    _resource_tests,
    _rich_tests,
    _sandbox_tests,
    _seccomp_tests,
    _userns_tests,
)
from pouch.testing._network_suite import NetworkDriverConformance
from pouch.testing._suite import LONG, STUBBORN, SuiteBase, counter, until, well_behaved, with_tests
from pouch.testing._volume_suite import VolumeDriverConformance

__all__ = [
    "LONG",
    "STUBBORN",
    "NetworkDriverConformance",
    "RuntimeConformance",
    "SandboxConformance",
    "VolumeDriverConformance",
    "counter",
    "until",
    "well_behaved",
]


@with_tests(
    _lifecycle_tests,
    _feature_tests,
    _isolation_tests,
    _resource_tests,
    _seccomp_tests,
    _userns_tests,
    _daemon_tests,
    _rich_tests,
)
class RuntimeConformance(SuiteBase):
    """Subclass it as ``Test<Runtime>`` and set ``runtime`` to the runtime's name."""


@with_tests(_sandbox_tests)
class SandboxConformance(SuiteBase):
    """Subclass it as ``Test<Runtime>Sandbox`` and set ``runtime`` to the runtime's name."""
