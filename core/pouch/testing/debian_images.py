"""Debian images built from Debian's archive by ``mmdebstrap``, for tests that need a distribution.

Each recipe is built once (some 20 to 40 s, packages from the host's apt
sources) into a root filesystem tarball kept in ``~/.cache/pouch``, keyed by
the recipe, and imported into an engine with its image config:

- ``SYSTEMD``: Debian 12's ``systemd`` with busybox, and one service of the
  image's own, ``web.service`` (busybox's httpd on port 8080, serving
  ``/srv/www/index.html`` = ``hello from systemd``), enabled for
  ``multi-user.target`` (the rich containers' ``systemd`` mode).
- ``BUILDER``: Debian 12 with ``gcc`` and ``libc6-dev``, to compile static
  programs in a build stage (the image builder's tests).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pouch.oci import ImageConfig

__all__ = [
    "BUILDER",
    "SYSTEMD",
    "SYSTEMD_PAGE",
    "DebianImageMissing",
    "Recipe",
    "debian_rootfs_tar",
]

_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Recipe:
    name: str
    packages: tuple[str, ...]
    config: ImageConfig
    customize: str = ""

    def command(self, target: Path) -> list[str]:
        command = [
            "mmdebstrap",
            "--variant=minbase",
            "--mode=root",
            "--format=tar",
            f"--include={','.join(self.packages)}",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
        ]
        if self.customize:
            command.append(f"--customize-hook={self.customize}")
        return [*command, "bookworm", str(target)]


SYSTEMD_PAGE = "hello from systemd\n"
_UNIT = """\
[Unit]
Description=busybox httpd, the image's own service

[Service]
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www

[Install]
WantedBy=multi-user.target
"""
SYSTEMD = Recipe(
    name="systemd",
    packages=("systemd", "systemd-sysv", "busybox", "procps"),
    config=ImageConfig(env=[_PATH], cmd=["/lib/systemd/systemd"], stop_signal="SIGRTMIN+3"),
    customize=f"""\
set -e
root="$1"
mkdir -p "$root/srv/www"
printf '%s' '{SYSTEMD_PAGE}' > "$root/srv/www/index.html"
cat > "$root/etc/systemd/system/web.service" <<'UNIT'
{_UNIT}UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../web.service "$root/etc/systemd/system/multi-user.target.wants/web.service"
: > "$root/etc/machine-id"
""",
)
BUILDER = Recipe(
    name="builder",
    packages=("gcc", "libc6-dev"),
    config=ImageConfig(env=[_PATH], cmd=["/bin/bash"]),
)


class DebianImageMissing(RuntimeError):
    """The image cannot be built here (no mmdebstrap, no Debian archive)."""


def debian_rootfs_tar(recipe: Recipe, cache: Path | None = None) -> Path:
    """The recipe's rootfs tarball, built on first use; ``DebianImageMissing`` says why not."""
    key = hashlib.sha256("\0".join(recipe.command(Path("-"))).encode()).hexdigest()[:16]
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pouch"
    target = cache / f"debian-{recipe.name}-{key}.tar"
    if target.is_file():
        return target
    if shutil.which("mmdebstrap") is None:
        raise DebianImageMissing(
            f"the {recipe.name} test image needs mmdebstrap: apt-get install mmdebstrap"
        )
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    try:
        done = subprocess.run(
            recipe.command(partial), capture_output=True, timeout=900, check=False
        )
        if done.returncode:
            said = done.stderr.decode(errors="replace").strip()[-1500:]
            raise DebianImageMissing(f"mmdebstrap could not build the {recipe.name} image: {said}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
