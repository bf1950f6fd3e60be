"""The uncompressed kernel (``vmlinux``) inside a bzImage.

QEMU's ``microvm`` machine boots an ELF ``vmlinux`` straight away (PVH entry),
which skips the bzImage's real-mode setup and self-decompression. Debian ships
only the bzImage, so the payload is found by its compression magic and
decompressed here, in Python: gzip and xz with the standard library, the
kernel's legacy LZ4 framing by hand, zstd with ``zstandard`` (which the core
already brings). Nothing here touches the file system.
"""

from __future__ import annotations

import lzma
import struct
import zlib

__all__ = ["KernelImageError", "extract_vmlinux", "lz4_legacy_decompress"]

ELF_MAGIC = b"\x7fELF"
GZIP_MAGIC = b"\x1f\x8b\x08"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"


class KernelImageError(Exception):
    """The image holds no payload that decompresses to an ELF kernel."""


def _gunzip(blob: bytes) -> bytes:
    # wbits 16+: a gzip member; trailing bytes after it are ignored.
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)


def _unxz(blob: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)


def _unzstd(blob: bytes) -> bytes:
    import zstandard  # type: ignore[import-not-found, unused-ignore]

    # A decompressobj stops at the frame's end and ignores the bzImage's trailer.
    try:
        out: bytes = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    except zstandard.ZstdError as exc:
        raise KernelImageError(f"zstd: {exc}") from None
    return out


def _lz4_block(src: bytes, start: int, end: int, out: bytearray) -> None:
    """Decompress one LZ4 block ``src[start:end]`` onto the end of ``out``."""
    i = start
    while i < end:
        token = src[i]
        i += 1
        literals = token >> 4
        if literals == 15:
            while True:
                extra = src[i]
                i += 1
                literals += extra
                if extra != 255:
                    break
        out += src[i : i + literals]
        i += literals
        if i >= end:
            break  # the last sequence has literals only
        offset = src[i] | (src[i + 1] << 8)
        i += 2
        if offset == 0:
            raise KernelImageError("corrupt LZ4 block (offset 0)")
        length = token & 15
        if length == 15:
            while True:
                extra = src[i]
                i += 1
                length += extra
                if extra != 255:
                    break
        length += 4
        begin = len(out) - offset
        if begin < 0:
            raise KernelImageError("corrupt LZ4 block (offset before the start)")
        if offset >= length:
            out += out[begin : begin + length]
        else:
            # An overlapping match repeats the last `offset` bytes.
            pattern = bytes(out[begin:])
            whole, rest = divmod(length, offset)
            out += pattern * whole + pattern[:rest]


def lz4_legacy_decompress(blob: bytes) -> bytes:
    """Decompress the LZ4 legacy frame the kernel's ``lz4 -l`` build writes.

    The frame is the magic, then blocks of a 4-byte little-endian compressed
    size followed by that many bytes; it ends at the end of the data, at a
    zero size or at anything that is not a plausible block (the bzImage's
    trailer).
    """
    if not blob.startswith(LZ4_LEGACY_MAGIC):
        raise KernelImageError("not an LZ4 legacy frame")
    out = bytearray()
    i = 4
    while i + 4 <= len(blob):
        (size,) = struct.unpack_from("<I", blob, i)
        if size == 0 or size > 8 << 20 or i + 4 + size > len(blob):
            break
        _lz4_block(blob, i + 4, i + 4 + size, out)
        i += 4 + size
    return bytes(out)


_DECOMPRESSORS = (
    (GZIP_MAGIC, _gunzip),
    (XZ_MAGIC, _unxz),
    (LZ4_LEGACY_MAGIC, lz4_legacy_decompress),
    (ZSTD_MAGIC, _unzstd),
)


def _payload_hint(image: bytes) -> int | None:
    """Where the x86 boot header says the compressed payload starts, if it says."""
    if len(image) < 0x250 or image[0x202:0x206] != b"HdrS":
        return None
    setup_sects = image[0x1F1] or 4
    payload_offset: int = struct.unpack_from("<I", image, 0x248)[0]
    return (setup_sects + 1) * 512 + payload_offset


def extract_vmlinux(image: bytes) -> bytes:
    """The ELF kernel inside ``image`` (a bzImage, or already a vmlinux)."""
    if image.startswith(ELF_MAGIC):
        return image
    candidates: list[int] = []
    hint = _payload_hint(image)
    if hint is not None:
        candidates.append(hint)
    for magic, _ in _DECOMPRESSORS:
        at = image.find(magic)
        while at != -1:
            candidates.append(at)
            at = image.find(magic, at + 1)
    tried: list[str] = []
    for at in dict.fromkeys(candidates):
        for magic, decompress in _DECOMPRESSORS:
            if not image.startswith(magic, at):
                continue
            try:
                kernel = decompress(image[at:])
            except (KernelImageError, lzma.LZMAError, zlib.error, IndexError):
                tried.append(f"{decompress.__name__.lstrip('_')}@{at}")
                continue
            if kernel.startswith(ELF_MAGIC):
                return kernel
            tried.append(f"{decompress.__name__.lstrip('_')}@{at}")
    detail = ", ".join(tried) if tried else "no gzip, xz, lz4 or zstd magic found"
    raise KernelImageError(f"no ELF kernel in the image ({detail})")
