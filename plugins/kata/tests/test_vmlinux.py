"""Taking the ELF kernel out of a bzImage, whatever its payload's compression."""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess

import pytest
from pouch_kata._vmlinux import KernelImageError, extract_vmlinux, lz4_legacy_decompress

KERNEL = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 64 + b"tail" * 100


def bzimage(payload: bytes, *, header: bool = True) -> bytes:
    """A blob shaped like a bzImage: setup sectors, boot header, then the payload."""
    setup = bytearray(5 * 512)
    if header:
        setup[0x1F1] = 4  # setup_sects: the payload area starts at 5 * 512
        setup[0x202:0x206] = b"HdrS"
        struct.pack_into("<II", setup, 0x248, 0x40, len(payload))
    # A decoy: the gzip magic inside the decompressor's code, before the payload.
    body = b"\x1f\x8b\x08garbage" + bytes(0x40 - 10)
    return bytes(setup) + body + payload + b"\0" * 16


def lz4_block_literals_then_match() -> bytes:
    """One LZ4 block by hand: 8 literals, an overlapping match of 40, then 5 literals."""
    literals = b"\x7fELFabab"
    block = bytes([(8 << 4) | 15]) + literals + struct.pack("<H", 2) + bytes([40 - 4 - 15])
    block += bytes([5 << 4]) + b"12345"
    return block


def test_lz4_by_hand_with_an_overlapping_match() -> None:
    block = lz4_block_literals_then_match()
    frame = b"\x02\x21\x4c\x18" + struct.pack("<I", len(block)) + block
    assert lz4_legacy_decompress(frame) == b"\x7fELFabab" + b"ab" * 20 + b"12345"


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress], ids=["gzip", "xz"])
def test_found_by_magic_and_checked_for_elf(compress: object) -> None:
    assert callable(compress)
    assert extract_vmlinux(bzimage(compress(KERNEL))) == KERNEL
    assert extract_vmlinux(bzimage(compress(KERNEL), header=False)) == KERNEL


@pytest.mark.skipif(shutil.which("lz4") is None, reason="the lz4 program is not installed")
def test_lz4_legacy_frame_from_the_real_compressor() -> None:
    payload = subprocess.run(
        ["lz4", "-l", "-9", "-c"], input=KERNEL * 8, capture_output=True, check=True
    ).stdout
    assert extract_vmlinux(bzimage(payload)) == KERNEL * 8


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd program is not installed")
def test_zstd() -> None:
    payload = subprocess.run(
        ["zstd", "-c", "-q"], input=KERNEL, capture_output=True, check=True
    ).stdout
    assert extract_vmlinux(bzimage(payload)) == KERNEL


def test_a_vmlinux_is_returned_as_it_is() -> None:
    assert extract_vmlinux(KERNEL) == KERNEL


def test_a_decoy_zstd_magic_is_passed_over() -> None:
    decoy = b"\x28\xb5\x2f\xfd" + b"junk" * 8
    assert extract_vmlinux(bzimage(decoy + gzip.compress(KERNEL), header=False)) == KERNEL


def test_a_payload_that_is_not_elf_is_refused() -> None:
    with pytest.raises(KernelImageError, match="no ELF kernel"):
        extract_vmlinux(bzimage(gzip.compress(b"MZ not a kernel")))
    with pytest.raises(KernelImageError, match="no gzip, xz, lz4 or zstd magic"):
        extract_vmlinux(b"\0" * 4096)
