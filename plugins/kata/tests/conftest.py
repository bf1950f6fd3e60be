"""Fixtures for the kata tests: the guest assets, built once, and VMs that never outlive a test.

The assets are built where ``pouch-kata assets build`` puts them by default
(``/var/lib/pouch/kata/assets``) when the tests run as root, so that
``scripts/setup``'s build serves the tests and the tests' build serves pouchd;
otherwise under ``~/.cache/pouch-kata``; ``POUCH_KATA_ASSETS`` overrides both.
A build that is up to date costs a checksum of each file. Tests skip, saying
why, only when QEMU is missing or the Debian archive cannot be reached.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pouch_kata._assets import Assets, DownloadError, assets_dir, build_assets
from pouch_kata._qemu import MicroVM, VMSpec
from pouch_kata.plugin import qemu_program


def assets_location() -> Path:
    if "POUCH_KATA_ASSETS" in os.environ:
        return Path(os.environ["POUCH_KATA_ASSETS"])
    if os.geteuid() == 0:
        return assets_dir()
    return Path.home() / ".cache" / "pouch-kata" / "assets"


@pytest.fixture(scope="session")
def qemu() -> str:
    program, package = qemu_program()
    if shutil.which(program) is None:
        pytest.skip(f"{program} not found; install the Debian package {package}")
    return program


@pytest.fixture(scope="session")
def guest_assets() -> Assets:
    try:
        assets, _ = build_assets(assets_location())
    except DownloadError as why:
        pytest.skip(f"the Debian archive is not reachable: {why}")
    return assets


MakeVM = Callable[..., MicroVM]


@pytest.fixture
def make_vm(qemu: str, tmp_path: Path) -> Iterator[MakeVM]:
    """MicroVMs for one test; each is stopped (QMP, then its PID killed) and checked gone."""
    vms: list[MicroVM] = []

    def make(spec: VMSpec, name: str = "vm") -> MicroVM:
        vm = MicroVM(spec, tmp_path / name, program=qemu)
        vms.append(vm)
        return vm

    yield make
    for vm in vms:
        vm.stop()
    left = [vm.pid for vm in vms if vm.alive()]
    assert not left, f"QEMU processes left running: {left}"
