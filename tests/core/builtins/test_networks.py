"""The built-in ``host`` and ``none`` network drivers against the network conformance suite.

Each has one network of its own name and creates no others; neither pins a
namespace nor declares a capability, so what is checked is the contract
itself (refusals naming the field, idempotent detach) and that a container
on it leaves nothing behind. Containers run on runc where this host can.
"""

from __future__ import annotations

from pouch.testing.conformance import NetworkDriverConformance


class TestHost(NetworkDriverConformance):
    driver = "host"
    network = "host"
    bad_option_field = "driver"  # no options at all: it makes no networks


class TestNone(NetworkDriverConformance):
    driver = "none"
    network = "none"
    bad_option_field = "driver"
