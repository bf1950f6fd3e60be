"""The network conformance suite of ``pouch.testing``, run against the CNI ``bridge`` driver.

Networks are 10.231.40.0/24 onwards on bridges named ptXXXXXX, so that
``host_guard`` (conftest) recognises and removes whatever a failed test left:
links, rules, namespaces, cached results and address reservations.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from pouch_cni import BridgeDriver
from pouch_cni._netconf import bridge_of

from pouch.engine import Engine
from pouch.testing.conformance import NetworkDriverConformance

# Containers on the networks: these need the runc runtime, which pouch-cni
# does not bring (installed alone beside the core, its other tests still run).
pytest.importorskip("pouch_runc", reason="the conformance suite needs pouch-runc installed")

pytestmark = [pytest.mark.root, pytest.mark.binary("runc", "conmon", "iptables")]


@pytest.mark.usefixtures("host_guard")
class TestBridge(NetworkDriverConformance):
    driver = "bridge"

    def network_options(self, index: int) -> dict[str, str]:
        return {"bridge": "pt" + secrets.token_hex(3), "subnet": f"10.231.{40 + index}.0/24"}

    async def leftovers(self, engine: Engine) -> list[str]:
        driver = engine.kernel.networks.get("bridge")
        assert isinstance(driver, BridgeDriver)
        found = []
        for name in driver.networks.names():
            conflist = driver.networks.get(name)
            bridge = bridge_of(conflist) if conflist else ""
            ports = Path("/sys/class/net") / bridge / "brif"
            if bridge and ports.is_dir():
                found += [f"veth {port.name} on {bridge}" for port in ports.iterdir()]
        found += [f"cached attachment {p.name}" for p in driver.settings.cache.glob("*")]
        found += [
            f"address {p.name} reserved on {p.parent.name}"
            for p in driver.settings.data.glob("*/*")
            if re.fullmatch(r"[0-9a-f.:]+", p.name)
        ]
        return found
