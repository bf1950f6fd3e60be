"""The lane's guest: a Debian 12 disk image, its kernel and initramfs, built once and cached.

``GUEST`` is an ``mmdebstrap`` recipe (Debian's archive, nothing else) with
Debian's ``linux-image-amd64``, systemd, python3 (the same 3.11 as the host,
so the checkout's virtual environment runs in the guest unchanged), runc, crun,
conmon, lxc, the CNI plugins and what the conformance suites call. Its
customize hook installs the guest side of the lane: ``/usr/local/sbin/pouch-lane``
(which runs the script the host leaves in the job directory) and the unit
that starts it once the system is up.

``guest_disk`` turns the rootfs tarball into an ext4 image (``mke2fs -d`` of
the unpacked tree: Debian's mke2fs cannot read a tarball) and
pulls the kernel and initramfs out of it; each boot runs on a snapshot of that
image, so every layout starts from the same clean disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pouch.oci import ImageConfig
from pouch.testing.debian_images import Recipe, debian_rootfs_tar
from pouch.testing.kernels._guest import GUEST_BOOTSTRAP, GUEST_UNIT

__all__ = ["GUEST", "GuestDisk", "guest_disk"]

_PACKAGES = (
    "linux-image-amd64",
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "runc",
    "crun",
    "conmon",
    "lxc",
    "containernetworking-plugins",
    "iptables",
    "iproute2",
    "busybox-static",
    "tini",
    "util-linux",
    "procps",
    "kmod",
    "e2fsprogs",
)

_CUSTOMIZE = f"""\
set -e
root="$1"
cat > "$root/usr/local/sbin/pouch-lane" <<'SCRIPT'
{GUEST_BOOTSTRAP}SCRIPT
chmod 755 "$root/usr/local/sbin/pouch-lane"
cat > "$root/etc/systemd/system/pouch-lane.service" <<'UNIT'
{GUEST_UNIT}UNIT
ln -sf /etc/systemd/system/pouch-lane.service \\
    "$root/etc/systemd/system/multi-user.target.wants/pouch-lane.service"
for unit in lxc.service lxc-net.service lxc-monitord.service apt-daily.timer \\
        apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo pouch-lane > "$root/etc/hostname"
printf '127.0.0.1 localhost\\n127.0.1.1 pouch-lane\\n' > "$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\\n' > "$root/etc/fstab"
: > "$root/etc/machine-id"
"""

GUEST = Recipe(
    name="kernel-lane",
    packages=_PACKAGES,
    config=ImageConfig(),
    customize=_CUSTOMIZE,
)


@dataclass(frozen=True)
class GuestDisk:
    image: Path  # ext4, raw: each boot writes to a snapshot of it
    kernel: Path
    initrd: Path
    release: str  # the kernel's release, e.g. 6.1.0-28-amd64


def _boot_files(tarball: Path, into: Path) -> tuple[Path, Path, str]:
    with tarfile.open(tarball) as tar:
        kernels = [m for m in tar.getmembers() if m.isfile() and "boot/vmlinuz-" in m.name]
        if not kernels:
            raise RuntimeError(f"{tarball}: no /boot/vmlinuz-* in the guest image")
        release = kernels[0].name.rsplit("vmlinuz-", 1)[1]
        found = []
        for name in (f"boot/vmlinuz-{release}", f"boot/initrd.img-{release}"):
            member = next(m for m in tar.getmembers() if m.name.lstrip("./") == name)
            source = tar.extractfile(member)
            if source is None:
                raise RuntimeError(f"{tarball}: {name} is not a file")
            target = into / Path(name).name
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            found.append(target)
    return found[0], found[1], release


def guest_disk(cache: Path | None = None, size: str = "6G") -> GuestDisk:
    """The guest's disk, kernel and initramfs, built on first use (a few minutes)."""
    tarball = debian_rootfs_tar(GUEST, cache)
    where = tarball.with_suffix(".disk")
    if not (where / "root.ext4").is_file():
        partial = tarball.with_suffix(f".{os.getpid()}.partial-disk")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            _boot_files(tarball, partial)
            image = partial / "root.ext4"
            tree = partial / "tree"
            tree.mkdir()
            subprocess.run(
                ["tar", "--numeric-owner", "-xpf", str(tarball), "-C", str(tree)],
                check=True,
                capture_output=True,
                timeout=600,
            )
            subprocess.run(
                ["mke2fs", "-q", "-t", "ext4", "-L", "root", "-d", str(tree), str(image), size],
                check=True,
                capture_output=True,
                timeout=600,
            )
            shutil.rmtree(tree)
            shutil.rmtree(where, ignore_errors=True)
            partial.rename(where)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    kernel = next(where.glob("vmlinuz-*"))
    initrd = next(where.glob("initrd.img-*"))
    return GuestDisk(where / "root.ext4", kernel, initrd, kernel.name.split("vmlinuz-", 1)[1])
