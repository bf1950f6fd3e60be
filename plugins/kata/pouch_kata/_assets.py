"""The guest kernel and initramfs, built from Debian packages, and their manifest.

``build_assets`` downloads Debian's cloud kernel and ``busybox-static`` with
``apt-get download`` into a temporary directory (no apt state changes, no root
needed), unpacks them with ``dpkg -x``, takes the uncompressed ``vmlinux`` out
of the bzImage, and writes a gzip newc initramfs holding busybox with its
applet links, the kernel modules the guest needs and an ``/init``. Everything
lands in ``<state root>/kata/assets`` with ``manifest.json``; a second build
reuses what the manifest still describes. Nothing here runs at container start.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from ._cpio import CpioWriter
from ._guest_init import INIT_SCRIPT, MODULES_LIST, SCRIPT_PATH
from ._kmod import (
    GUEST_MODULES,
    load_order,
    module_name,
    modules_dep_from_tree,
    parse_builtin,
    parse_modules_dep,
    read_module,
    strip_signature,
)
from ._vmlinux import extract_vmlinux

__all__ = [
    "AGENT_FILE",
    "AssetError",
    "Assets",
    "DownloadError",
    "Manifest",
    "assets_dir",
    "build_assets",
    "load_assets",
]

FORMAT = 2
DEFAULT_ROOT = Path("/var/lib/pouch")
KERNEL_META = {"x86_64": "linux-image-cloud-amd64"}
BUSYBOX = "busybox-static"
VMLINUX = "vmlinux"
INITRAMFS = "initramfs.cpio.gz"
MANIFEST = "manifest.json"
AGENT_FILE = "pouch-agent"


class AssetError(Exception):
    """The assets cannot be built (or are not there); the message says why."""


class DownloadError(AssetError):
    """apt could not fetch a package (no archive reachable, or no apt at all)."""


class Manifest(msgspec.Struct, kw_only=True):
    format: int
    packages: dict[str, str]
    kernel_release: str
    vmlinux_sha256: str
    initramfs_sha256: str
    modules: list[str]
    agent_sha256: str = ""
    built_at: str = ""
    build_seconds: float = 0.0


class Assets(msgspec.Struct, kw_only=True, frozen=True):
    """Built assets ready to boot: the files and what the manifest says of them."""

    directory: Path
    manifest: Manifest

    @property
    def vmlinux(self) -> Path:
        return self.directory / VMLINUX

    @property
    def initramfs(self) -> Path:
        return self.directory / INITRAMFS


def assets_dir(root: Path | None = None) -> Path:
    return (root or DEFAULT_ROOT) / "kata" / "assets"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_assets(directory: Path, *, verify: bool = False, agent: Path | None = None) -> Assets:
    """The assets in ``directory``; ``AssetError`` when missing or not matching.

    ``verify`` checks the files' checksums (a build does, a plugin load only
    looks for the files); ``agent`` must then be the agent that was built in.
    """
    try:
        manifest = msgspec.json.decode((directory / MANIFEST).read_bytes(), type=Manifest)
    except FileNotFoundError:
        raise AssetError(f"no guest assets in {directory}") from None
    except msgspec.DecodeError as exc:
        raise AssetError(f"{directory / MANIFEST}: {exc}") from None
    if manifest.format != FORMAT:
        raise AssetError(f"{directory / MANIFEST}: format {manifest.format}, not {FORMAT}")
    assets = Assets(directory=directory, manifest=manifest)
    for path, want in (
        (assets.vmlinux, manifest.vmlinux_sha256),
        (assets.initramfs, manifest.initramfs_sha256),
    ):
        if not path.is_file():
            raise AssetError(f"{path} is missing")
        if verify and sha256_file(path) != want:
            raise AssetError(f"{path} does not match {MANIFEST}")
    if verify and (sha256_file(agent) if agent else "") != manifest.agent_sha256:
        raise AssetError("the guest agent differs from the one built in")
    return assets


def _run(
    argv: list[str], cwd: Path, timeout: float = 600, error: type[AssetError] = AssetError
) -> str:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise error(f"{argv[0]} not found (a Debian host is needed)") from None
    except subprocess.TimeoutExpired:
        raise error(f"{' '.join(argv)} timed out after {timeout:.0f} s") from None
    if done.returncode != 0:
        raise error(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _download(package: str, into: Path) -> Path:
    """``apt-get download`` one package into ``into``; the .deb's path."""
    argv = ["apt-get", "download", "-q", package]
    if os.geteuid() == 0:
        # As root apt hands the download to the _apt user, who cannot write a private temp dir.
        argv[1:1] = ["-o", "APT::Sandbox::User=root"]
    before = set(into.glob("*.deb"))
    _run(argv, into, error=DownloadError)
    new = sorted(set(into.glob("*.deb")) - before)
    if len(new) != 1:
        raise AssetError(f"apt-get download {package} gave {len(new)} files")
    return new[0]


def _field(deb: Path, name: str) -> str:
    return _run(["dpkg-deb", "-f", str(deb), name], deb.parent).strip()


def _kernel_package(meta: Path) -> str:
    """The versioned image package a ``linux-image-cloud-*`` metapackage depends on."""
    for alternative in _field(meta, "Depends").split(","):
        name = alternative.split("|")[0].split("(")[0].strip()
        if name.startswith("linux-image-"):
            return name
    raise AssetError(f"{meta.name} depends on no linux-image package")


def _busybox_tree(busybox: Path, out: CpioWriter, dirs: set[str]) -> None:
    """busybox at /bin/busybox plus a symlink per applet (as ``--install -s`` would)."""
    listing = _run([str(busybox), "--list-full"], busybox.parent, timeout=30)
    _mkdirs(out, dirs, "bin")
    out.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in sorted(set(listing.split())):
        applet = applet.strip("/")
        if applet == "bin/busybox":
            continue
        _mkdirs(out, dirs, os.path.dirname(applet))
        out.symlink(applet, "/bin/busybox")


def _mkdirs(out: CpioWriter, dirs: set[str], path: str) -> None:
    parts = [p for p in path.split("/") if p]
    for depth in range(1, len(parts) + 1):
        name = "/".join(parts[:depth])
        if name not in dirs:
            dirs.add(name)
            out.directory(name)


def write_initramfs(
    path: Path,
    *,
    busybox: Path,
    moddir: Path,
    release: str,
    modules: list[str],
    agent: Path | None,
    mtime: int,
) -> None:
    raw = io.BytesIO()
    out = CpioWriter(raw, mtime=mtime)
    dirs: set[str] = set()
    for name in ("dev", "proc", "sys", "run", "tmp", "etc", "root", "usr/lib/pouch-kata"):
        _mkdirs(out, dirs, name)
    _busybox_tree(busybox, out, dirs)
    listed: list[str] = []
    for module in modules:
        # Stored uncompressed (busybox insmod loads plain ELF) under the usual path.
        target = f"lib/modules/{release}/{module}".split(".ko", 1)[0] + ".ko"
        _mkdirs(out, dirs, os.path.dirname(target))
        out.file(target, strip_signature(read_module(moddir / module)))
        listed.append("/" + target)
    _mkdirs(out, dirs, os.path.dirname(MODULES_LIST))
    out.file(MODULES_LIST, "".join(f"{m}\n" for m in listed).encode())
    out.file(SCRIPT_PATH, INIT_SCRIPT.encode(), 0o755)
    if agent is not None:
        out.file("init", agent.read_bytes(), 0o755)
    else:
        out.symlink("init", "/" + SCRIPT_PATH)
    out.close()
    tmp = path.with_suffix(".tmp")
    with gzip.GzipFile(tmp, "wb", compresslevel=6, mtime=mtime) as f:
        f.write(raw.getvalue())
    tmp.replace(path)


def build_assets(
    directory: Path,
    *,
    force: bool = False,
    agent: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Assets, bool]:
    """Build (or reuse) the assets in ``directory``; the assets and whether they were built.

    Reuse needs a manifest of this format whose files still have its checksums
    and whose agent (or none) is the one asked for; otherwise, or with
    ``force``, everything is built again from the packages apt offers now.
    """
    directory.mkdir(parents=True, exist_ok=True)
    # One build at a time per directory; a second builder then finds the first's result.
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(directory, force=force, agent=agent, say=log or (lambda _m: None))


def _build_locked(
    directory: Path, *, force: bool, agent: Path | None, say: Callable[[str], None]
) -> tuple[Assets, bool]:
    if not force:
        try:
            return load_assets(directory, verify=True, agent=agent), False
        except AssetError as why:
            say(f"building: {why}")
    machine = platform.machine()
    if machine not in KERNEL_META:
        raise AssetError(f"guest assets are built for x86_64 only, not {machine}")
    if agent is not None and not agent.is_file():
        raise AssetError(f"agent {agent} is not a file")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pouch-kata-assets.") as tmp_name:
        tmp = Path(tmp_name)
        debs = tmp / "debs"
        debs.mkdir()
        meta = _download(KERNEL_META[machine], debs)
        image_package = _kernel_package(meta)
        say(f"downloading {image_package} and {BUSYBOX}")
        image = _download(image_package, debs)
        box = _download(BUSYBOX, debs)
        packages = {_field(deb, "Package"): _field(deb, "Version") for deb in (meta, image, box)}
        tree = tmp / "tree"
        for deb in (image, box):
            _run(["dpkg", "-x", str(deb), str(tree)], tmp)
        releases = sorted(p for p in (tree / "lib" / "modules").iterdir() if p.is_dir())
        if len(releases) != 1:
            raise AssetError(f"{image.name} holds {len(releases)} module trees")
        moddir = releases[0]
        release = moddir.name
        bzimage = tree / "boot" / f"vmlinuz-{release}"
        kernel = extract_vmlinux(bzimage.read_bytes())
        dep_file = moddir / "modules.dep"
        if dep_file.is_file():
            deps = parse_modules_dep(dep_file.read_text())
        else:
            # Debian's package leaves modules.dep to depmod at install time.
            deps = modules_dep_from_tree(moddir)
        builtin_file = moddir / "modules.builtin"
        builtin = parse_builtin(builtin_file.read_text()) if builtin_file.is_file() else set()
        modules = load_order(GUEST_MODULES, deps, builtin)
        busybox = tree / "bin" / "busybox"
        if not busybox.is_file():
            raise AssetError(f"{box.name} has no bin/busybox")
        mtime = int(time.time())
        vmlinux_tmp = directory / (VMLINUX + ".tmp")
        vmlinux_tmp.write_bytes(kernel)
        vmlinux_tmp.replace(directory / VMLINUX)
        write_initramfs(
            directory / INITRAMFS,
            busybox=busybox,
            moddir=moddir,
            release=release,
            modules=modules,
            agent=agent,
            mtime=mtime,
        )
    manifest = Manifest(
        format=FORMAT,
        packages=packages,
        kernel_release=release,
        vmlinux_sha256=hashlib.sha256(kernel).hexdigest(),
        initramfs_sha256=sha256_file(directory / INITRAMFS),
        modules=[module_name(m) for m in modules],
        agent_sha256=sha256_file(agent) if agent else "",
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime)),
        build_seconds=round(time.monotonic() - started, 2),
    )
    tmp_manifest = directory / (MANIFEST + ".tmp")
    tmp_manifest.write_bytes(msgspec.json.format(msgspec.json.encode(manifest)) + b"\n")
    tmp_manifest.replace(directory / MANIFEST)
    return Assets(directory=directory, manifest=manifest), True
