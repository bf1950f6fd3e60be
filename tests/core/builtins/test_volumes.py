"""The built-in ``local`` volume driver against the volume conformance suite."""

from __future__ import annotations

from pouch.testing.conformance import VolumeDriverConformance


class TestLocal(VolumeDriverConformance):
    driver = "local"
    bad_option_field = "options"  # it takes none, and says so of them all
