"""The image build rows: one Dockerfile built cold (``--no-cache``) and warm (all cached).

The Dockerfile copies a few MiB of context files into the bench's busybox
image and runs a step over them, so both the COPY and the RUN path count.
pouch builds through pouchd's image builder (``pouch build``), podman
through buildah (``podman build``); both from the image they already pulled.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from _measure import Variant
from _procs import timed

__all__ = ["BUILD_FIGURES", "build_variants"]

BUILD_FIGURES: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("build_cold", "build one Dockerfile, cold (COPY 4 MiB + RUN)", "s", [("pouch", "podman")]),
    ("build_warm", "the same build again, every step cached", "s", [("pouch", "podman")]),
]


def _context(image: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-build-"))
    (root / "data").mkdir()
    for index in range(4):
        (root / "data" / f"part{index}").write_bytes(os.urandom(1 << 20))
    (root / "Dockerfile").write_text(
        f'FROM {image}\nCOPY data /data\nRUN sha256sum /data/* > /sums\nCMD ["cat", "/sums"]\n'
    )
    return root


def build_variants(engines: Mapping[str, Any], image: str) -> list[Variant]:
    """pouch's and podman's builds, each a cold and a warm measure per round."""
    context = _context(image)
    variants = []
    for name in ("pouch", "podman"):
        if name not in engines:
            continue
        engine = engines[name]
        env = getattr(engine, "env", None)

        def measure(engine: Any = engine, env: Any = env) -> Mapping[str, float]:
            cold = timed(engine.build_command(context, cold=True), env=env, timeout=600)
            warm = timed(engine.build_command(context, cold=False), env=env, timeout=600)
            return {"build_cold": cold, "build_warm": warm}

        variants.append(Variant(name, measure, ("build_cold", "build_warm")))
    return variants
