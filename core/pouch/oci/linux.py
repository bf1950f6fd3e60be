"""The ``linux`` section of the OCI runtime-spec config.json.

Owns the Linux platform structs: namespaces, user-namespace ID mappings,
device nodes, sysctls, masked and read-only paths and the cgroup path. The
cgroup limits live in ``pouch.oci.resources`` and the seccomp filter in
``pouch.oci.seccomp``; this module only ties them together. JSON names are the
spec's, verbatim (``uidMappings``, ``hostID``, ``cgroupsPath``,
``maskedPaths``, ``readonlyPaths``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ._base import OCIStruct
from .resources import LinuxResources
from .seccomp import LinuxSeccomp

__all__ = [
    "Linux",
    "LinuxDevice",
    "LinuxIDMapping",
    "LinuxNamespace",
    "LinuxPersonality",
    "NamespaceType",
]

NamespaceType = Literal["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]


class LinuxNamespace(OCIStruct, kw_only=True):
    """A namespace to create, or to join when ``path`` names an existing one."""

    type: NamespaceType
    path: str = ""


class LinuxIDMapping(OCIStruct, kw_only=True):
    """A range of IDs mapped into a user namespace (or an idmapped mount).

    All three fields are required so that ``hostID: 0`` is written out
    rather than dropped as a default.
    """

    container_id: int = msgspec.field(name="containerID")
    host_id: int = msgspec.field(name="hostID")
    size: int


class LinuxDevice(OCIStruct, kw_only=True):
    """A device node the runtime creates in the container's ``/dev``.

    The runtime supplies /dev/null, zero, full, random, urandom, tty, console
    and ptmx itself (runtime-spec "Default Devices"); list others here.
    """

    path: str
    type: str  # "c", "b", "u" or "p"
    major: int
    minor: int
    file_mode: int | None = msgspec.field(default=None, name="fileMode")
    uid: int | None = None
    gid: int | None = None


class LinuxPersonality(OCIStruct, kw_only=True):
    domain: Literal["LINUX", "LINUX32"]
    flags: list[str] = []


class Linux(OCIStruct, kw_only=True):
    """Linux-specific configuration of a container."""

    uid_mappings: list[LinuxIDMapping] = msgspec.field(default_factory=list, name="uidMappings")
    gid_mappings: list[LinuxIDMapping] = msgspec.field(default_factory=list, name="gidMappings")
    sysctl: dict[str, str] = {}
    resources: LinuxResources | None = None
    # A path relative to the cgroup mount point, e.g. "/pouch/<id>".
    cgroups_path: str = msgspec.field(default="", name="cgroupsPath")
    namespaces: list[LinuxNamespace] = []
    devices: list[LinuxDevice] = []
    seccomp: LinuxSeccomp | None = None
    rootfs_propagation: str = msgspec.field(default="", name="rootfsPropagation")
    masked_paths: list[str] = msgspec.field(default_factory=list, name="maskedPaths")
    readonly_paths: list[str] = msgspec.field(default_factory=list, name="readonlyPaths")
    mount_label: str = msgspec.field(default="", name="mountLabel")
    personality: LinuxPersonality | None = None
