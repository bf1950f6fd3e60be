"""Conformance tests of a network driver object: networks, attachments, gc.

What ``pouch.drivers.NetworkDriver`` promises, asked of the driver directly
(as the engine does, and again after a crash): ``create_network`` refuses bad
options with ``InvalidArgument`` naming the field (and an overlapping subnet),
and repeating ``create_network``/``remove_network`` is harmless; ``detach`` is
idempotent; with ``NETNS`` an attachment is an interface in the sandbox's
namespace carrying the attachment's address; with ``GC``, ``gc`` releases
what a sandbox that vanished left.

Bound into ``NetworkDriverConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from pouch.drivers import Capability, NetworkAttachment, NetworkDriver, Sandbox
from pouch.errors import Conflict, InvalidArgument
from pouch.netns import remove_netns

if TYPE_CHECKING:
    from pouch.engine import Engine
    from pouch.testing._network_suite import NetworkDriverConformance

__all__: list[str] = []


async def _addresses(sandbox: Sandbox) -> dict[str, list[str]]:
    """The interfaces in the sandbox's namespace and their addresses (CIDR)."""
    done = await anyio.run_process(
        ["nsenter", f"--net={sandbox.netns_path}", "ip", "-o", "address", "show"]
    )
    found: dict[str, list[str]] = {}
    for line in done.stdout.decode().splitlines():
        fields = line.split()
        found.setdefault(fields[1], []).append(fields[3])
    return found


async def _check_in_place(sandbox: Sandbox, attachment: NetworkAttachment) -> None:
    assert attachment.interface and attachment.ips, f"NETNS, yet no address: {attachment}"
    present = await _addresses(sandbox)
    assert attachment.interface in present, f"{attachment.interface} not in {sorted(present)}"
    assert set(attachment.ips) <= set(present[attachment.interface]), present


async def test_create_and_remove_repeat_safely(
    self: NetworkDriverConformance, engine: Engine
) -> None:
    driver = self.network_driver(engine)
    with anyio.fail_after(self.timeout):
        if self.network:
            # A driver with one built-in network makes no others, and says so as a 4xx.
            with pytest.raises(InvalidArgument) as refused:
                await driver.create_network("kit-" + secrets.token_hex(3), {})
            assert refused.value.field, "the refusal names no field"
            with pytest.raises((InvalidArgument, Conflict)):
                await driver.remove_network(self.network)
            return
        name, options = "kit-" + secrets.token_hex(3), self.network_options(0)
        try:
            # The engine repeats a create its crash interrupted before recording it.
            await driver.create_network(name, options)
            await driver.create_network(name, options)
        finally:
            with anyio.CancelScope(shield=True):
                await driver.remove_network(name)
                await driver.remove_network(name)  # and a remove


async def test_bad_options_are_refused_naming_the_field(
    self: NetworkDriverConformance, engine: Engine
) -> None:
    driver = self.network_driver(engine)
    option, value = self.bad_option
    name = "kit-" + secrets.token_hex(3)
    with anyio.fail_after(self.timeout):
        try:
            with pytest.raises(InvalidArgument) as refused:
                await driver.create_network(name, {**self.network_options(0), option: value})
        finally:
            if not self.network:
                await driver.remove_network(name)
    assert refused.value.field == (self.bad_option_field or option), refused.value


async def test_an_overlapping_subnet_is_refused(
    self: NetworkDriverConformance, engine: Engine
) -> None:
    driver = self.network_driver(engine)
    if self.network:
        pytest.skip(f"{self.driver} has one built-in network and makes no others")
    if "subnet" not in self.network_options(0):
        pytest.skip(f"networks of {self.driver} are made without a subnet option")
    with anyio.fail_after(self.timeout):
        async with self.driver_network(driver) as (_, options):
            other = "kit-" + secrets.token_hex(3)
            try:
                with pytest.raises(InvalidArgument) as refused:
                    await driver.create_network(
                        other, {**self.network_options(1), "subnet": options["subnet"]}
                    )
            finally:
                await driver.remove_network(other)
    assert refused.value.field == "subnet", refused.value


async def test_attach_then_detach_twice(
    self: NetworkDriverConformance, engine: Engine, tmp_path: Path
) -> None:
    driver = self.network_driver(engine)
    pinned = self.declares(engine, Capability.NETNS)
    with anyio.fail_after(self.timeout):
        async with (
            self.driver_network(driver) as (network, options),
            self.sandbox(engine, tmp_path) as box,
        ):
            attachment = await driver.attach(box, network, options)
            try:
                assert attachment.network == network
                if pinned:
                    await _check_in_place(box, attachment)
            finally:
                with anyio.CancelScope(shield=True):
                    await driver.detach(box, attachment)
            await driver.detach(box, attachment)  # idempotent
            if pinned:
                assert attachment.interface not in await _addresses(box)
            assert await self.leftovers(engine) == []


async def test_gc_releases_what_a_vanished_sandbox_left(
    self: NetworkDriverConformance, engine: Engine, tmp_path: Path
) -> None:
    self.require_driver(engine, Capability.GC)
    driver = self.network_driver(engine)
    pinned = self.declares(engine, Capability.NETNS)
    with anyio.fail_after(self.timeout):
        async with (
            self.driver_network(driver) as (network, options),
            self.sandbox(engine, tmp_path) as gone,
            self.sandbox(engine, tmp_path) as kept,
        ):
            attached = [(gone, await driver.attach(gone, network, options))]
            try:
                attached.append((kept, await driver.attach(kept, network, options)))
                await driver.gc({gone.id, kept.id})  # both live: nothing to release
                if pinned:
                    for box, attachment in attached:
                        await _check_in_place(box, attachment)
                    # The sandbox vanishes without a detach (its engine crashed).
                    await remove_netns(Path(gone.netns_path))
                await driver.gc({kept.id})
                if pinned:
                    await _check_in_place(kept, attached[1][1])
                await driver.detach(kept, attached[1][1])
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await _detach_all(driver, attached)
                raise
            assert await self.leftovers(engine) == []
        # Leaving the block removed the network: a driver still holding what the
        # vanished sandbox had would refuse that, or leave it in ``leftovers``.


async def _detach_all(
    driver: NetworkDriver, attached: list[tuple[Sandbox, NetworkAttachment]]
) -> None:
    for box, attachment in attached:
        with contextlib.suppress(Exception):
            await driver.detach(box, attachment)
