"""The runtime conformance suite: the same contract tests for every runtime plugin.

A runtime plugin runs the whole suite against itself with one class::

    from pouch.testing.conformance import RuntimeConformance

    class TestRunc(RuntimeConformance):
        runtime = "runc"

The tests go through the public ``Engine`` API only (create, start, wait, kill,
stop, exec, logs, pause, events …), each bounded in time. A test needing an
optional capability (``pause``, ``exec``, ``resources``, ``restore``,
``namespaces``, ``tty``, ``attach``) skips
when the runtime's ``describe()`` does not list it, and the whole class skips,
with the plugin's own reason, when the runtime is not available on this host.
Override ``timeout`` (seconds per test) for slow runtimes such as VMs.

``RuntimeConformance`` has ``SuiteBase`` as its only base: its tests are the
functions of ``_lifecycle_tests``, ``_feature_tests`` and ``_isolation_tests``,
bound in by ``with_tests``.
"""

from __future__ import annotations

from pouch.testing import _feature_tests, _isolation_tests, _lifecycle_tests
from pouch.testing._suite import LONG, STUBBORN, SuiteBase, counter, until, well_behaved, with_tests

__all__ = ["LONG", "STUBBORN", "RuntimeConformance", "counter", "until", "well_behaved"]


@with_tests(_lifecycle_tests, _feature_tests, _isolation_tests)
class RuntimeConformance(SuiteBase):
    """Subclass it as ``Test<Runtime>`` and set ``runtime`` to the runtime's name."""
