"""Which kernel modules the guest must load, and in which order.

The guest needs virtio-mmio, the virtio console, virtio-net, virtiofs and
fuse. What the kernel builds in (``modules.builtin``) needs nothing; what it
builds as modules comes with its dependencies, taken from ``modules.dep`` or,
where the package has none (Debian makes it with depmod at install time), from
each module's own ``.modinfo`` section. The order returned is an ``insmod``
order: dependencies first.
"""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

__all__ = [
    "GUEST_MODULES",
    "ModuleError",
    "load_order",
    "modinfo_depends",
    "module_name",
    "modules_dep_from_tree",
    "parse_modules_dep",
    "read_module",
    "strip_signature",
]

# Module names as the kernel spells them (dashes become underscores).
GUEST_MODULES = ("virtio_mmio", "virtio_console", "virtio_net", "fuse", "virtiofs")


class ModuleError(Exception):
    """A wanted module is neither built in nor present as a file."""


def module_name(path: str) -> str:
    """``kernel/fs/fuse/virtiofs.ko.xz`` → ``virtiofs``."""
    base = path.rsplit("/", 1)[-1]
    base = base.split(".ko", 1)[0]
    return base.replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """``modules.dep`` as {module path: [dependency paths]} (paths as written)."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, rest = line.split(":", 1)
        deps[path.strip()] = rest.split()
    return deps


def parse_builtin(text: str) -> set[str]:
    return {module_name(line.strip()) for line in text.splitlines() if line.strip()}


def read_module(path: Path) -> bytes:
    """A module file's ELF bytes (``.ko.xz`` decompressed)."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        import gzip

        return gzip.decompress(data)
    return data


_SIGNATURE_MAGIC = b"~Module signature appended~\n"
# struct module_signature: algo, hash, id_type, signer_len, key_id_len (u8
# each), 3 bytes of padding, then the signature's length (big-endian u32).
_SIGNATURE_INFO = struct.Struct(">BBBBB3xI")


def strip_signature(elf: bytes) -> bytes:
    """The module without its appended signature (unchanged when it has none).

    The guest kernel then loads it without checking (and tainting itself,
    quietly): under TCG, hashing and checking an RSA signature per module is
    a noticeable part of the boot, and the initramfs is the project's own.
    """
    if not elf.endswith(_SIGNATURE_MAGIC):
        return elf
    end = len(elf) - len(_SIGNATURE_MAGIC)
    info = elf[end - _SIGNATURE_INFO.size : end]
    *_, sig_len = _SIGNATURE_INFO.unpack(info)
    start = end - _SIGNATURE_INFO.size - sig_len
    if start <= 0:
        raise ModuleError("a module signature longer than the module")
    return elf[:start]


def modinfo_depends(elf: bytes) -> list[str]:
    """The ``depends=`` names of a module's ``.modinfo`` section (64-bit ELF)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise ModuleError("not a 64-bit ELF module")
    endian = "<" if elf[5] == 1 else ">"
    (shoff,) = struct.unpack_from(endian + "Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", elf, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        base = shoff + index * shentsize
        name, _type, _flags, _addr, offset, size = struct.unpack_from(endian + "IIQQQQ", elf, base)
        return name, offset, size

    _, names_at, _ = section(shstrndx)
    for index in range(shnum):
        name, offset, size = section(index)
        end = elf.index(b"\0", names_at + name)
        if elf[names_at + name : end] != b".modinfo":
            continue
        for field in elf[offset : offset + size].split(b"\0"):
            if field.startswith(b"depends="):
                value = field[len(b"depends=") :].decode()
                return [d for d in value.split(",") if d]
        return []
    return []


def modules_dep_from_tree(moddir: Path) -> dict[str, list[str]]:
    """A ``modules.dep`` mapping made from the module files under ``moddir``."""
    paths = {
        module_name(p.name): p.relative_to(moddir).as_posix()
        for p in sorted(moddir.rglob("*.ko*"))
        if p.is_file()
    }
    deps: dict[str, list[str]] = {}
    for path in paths.values():
        names = modinfo_depends(read_module(moddir / path))
        deps[path] = [paths[n.replace("-", "_")] for n in names if n.replace("-", "_") in paths]
    return deps


def load_order(
    wanted: tuple[str, ...] | list[str], deps: dict[str, list[str]], builtin: set[str]
) -> list[str]:
    """Module paths to ``insmod``, each after the modules it depends on.

    A wanted module that is built in is left out; one that is neither built in
    nor in ``deps`` is an error naming it.
    """
    by_name = {module_name(path): path for path in deps}
    order: list[str] = []
    seen: set[str] = set()

    def visit(path: str, trail: tuple[str, ...]) -> None:
        if path in seen:
            return
        if path in trail:
            raise ModuleError(f"dependency cycle: {' -> '.join((*trail, path))}")
        for dep in deps.get(path, []):
            visit(dep, (*trail, path))
        seen.add(path)
        order.append(path)

    for name in wanted:
        name = name.replace("-", "_")
        if name in builtin:
            continue
        if name not in by_name:
            raise ModuleError(f"kernel module {name} is neither built in nor shipped")
        visit(by_name[name], ())
    return order
