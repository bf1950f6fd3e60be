"""Which modules the guest loads, in which order, from a recorded Debian cloud kernel."""

from __future__ import annotations

from pathlib import Path

import pytest
from pouch_kata._kmod import (
    GUEST_MODULES,
    ModuleError,
    load_order,
    module_name,
    parse_builtin,
    parse_modules_dep,
    strip_signature,
)

DATA = Path(__file__).parent / "data"


def recorded() -> tuple[dict[str, list[str]], set[str]]:
    """modules.dep (an excerpt) and modules.builtin of linux-image-6.1.0-57-cloud-amd64."""
    deps = parse_modules_dep((DATA / "modules.dep").read_text())
    return deps, parse_builtin((DATA / "modules.builtin").read_text())


def test_dependencies_come_first_and_once() -> None:
    deps, builtin = recorded()
    order = [module_name(path) for path in load_order(GUEST_MODULES, deps, builtin)]
    assert order == [
        "virtio_ring",
        "virtio",
        "virtio_mmio",
        "virtio_console",
        "failover",
        "net_failover",
        "virtio_net",
        "fuse",
        "virtiofs",
    ]


def test_every_module_follows_what_it_needs() -> None:
    deps, builtin = recorded()
    order = load_order(GUEST_MODULES, deps, builtin)
    for index, path in enumerate(order):
        assert set(deps[path]) <= set(order[:index]), path


def test_builtin_modules_are_not_loaded() -> None:
    deps, builtin = recorded()
    builtin |= {"fuse", "virtiofs"}
    names = [module_name(path) for path in load_order(GUEST_MODULES, deps, builtin)]
    assert "fuse" not in names and "virtiofs" not in names


def test_a_missing_module_is_named() -> None:
    deps, builtin = recorded()
    with pytest.raises(ModuleError, match="no_such_module is neither built in nor shipped"):
        load_order(("no-such-module",), deps, builtin)


def test_dashes_and_compression_suffixes() -> None:
    assert module_name("kernel/drivers/char/hw_random/virtio-rng.ko.xz") == "virtio_rng"
    deps, builtin = recorded()
    assert load_order(("virtio-rng",), deps, builtin)[-1].endswith("virtio-rng.ko")


def test_a_cycle_is_an_error() -> None:
    deps = {"a.ko": ["b.ko"], "b.ko": ["a.ko"]}
    with pytest.raises(ModuleError, match="cycle"):
        load_order(("a",), deps, set())


def test_an_appended_signature_is_stripped() -> None:
    import struct

    module = b"\x7fELF" + bytes(200)
    signature = bytes(range(256)) * 2
    info = struct.pack(">BBBBB3xI", 0, 0, 2, 0, 0, len(signature))
    signed = module + signature + info + b"~Module signature appended~\n"
    assert strip_signature(signed) == module
    assert strip_signature(module) == module
    broken = b"\x7fELF" + struct.pack(">BBBBB3xI", 0, 0, 2, 0, 0, 10**6)
    with pytest.raises(ModuleError):
        strip_signature(broken + b"~Module signature appended~\n")
