"""A Debian image with systemd as its init, built offline-from-the-archive by ``mmdebstrap``.

For the rich containers' ``systemd`` mode: Debian 12's ``systemd`` with
busybox, and one service of the image's own, ``web.service`` (busybox's
httpd on port 8080, serving ``/srv/www/index.html`` = ``hello from
systemd``), enabled for ``multi-user.target``. The root filesystem tarball
is built once (about 20 s, some 60 MiB of packages from the host's apt
sources) and kept in ``~/.cache/pouch``, keyed by the recipe below.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from pouch.oci import ImageConfig

__all__ = ["SYSTEMD_CONFIG", "SYSTEMD_PAGE", "SystemdImageMissing", "systemd_rootfs_tar"]

SYSTEMD_PAGE = "hello from systemd\n"
SYSTEMD_CONFIG = ImageConfig(
    env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    cmd=["/lib/systemd/systemd"],
    stop_signal="SIGRTMIN+3",
)
_UNIT = """\
[Unit]
Description=busybox httpd, the image's own service

[Service]
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www

[Install]
WantedBy=multi-user.target
"""
_CUSTOMIZE = f"""\
set -e
root="$1"
mkdir -p "$root/srv/www"
printf '%s' '{SYSTEMD_PAGE}' > "$root/srv/www/index.html"
cat > "$root/etc/systemd/system/web.service" <<'UNIT'
{_UNIT}UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../web.service "$root/etc/systemd/system/multi-user.target.wants/web.service"
: > "$root/etc/machine-id"
"""
_COMMAND = [
    "mmdebstrap",
    "--variant=minbase",
    "--mode=root",
    "--format=tar",
    "--include=systemd,systemd-sysv,busybox,procps",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    f"--customize-hook={_CUSTOMIZE}",
    "bookworm",
]


class SystemdImageMissing(RuntimeError):
    """The image cannot be built here (no mmdebstrap, no Debian archive)."""


def systemd_rootfs_tar(cache: Path | None = None) -> Path:
    """The root filesystem tarball, built on first use; ``SystemdImageMissing`` says why not."""
    recipe = hashlib.sha256("\0".join(_COMMAND).encode()).hexdigest()[:16]
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pouch"
    target = cache / f"systemd-rootfs-{recipe}.tar"
    if target.is_file():
        return target
    if shutil.which("mmdebstrap") is None:
        raise SystemdImageMissing(
            "the systemd test image needs mmdebstrap: apt-get install mmdebstrap"
        )
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    try:
        done = subprocess.run(
            [*_COMMAND, str(partial)], capture_output=True, timeout=900, check=False
        )
        if done.returncode:
            said = done.stderr.decode(errors="replace").strip()[-1500:]
            raise SystemdImageMissing(f"mmdebstrap could not build the systemd image: {said}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
