"""The top level of the OCI runtime-spec config.json.

Owns ``Spec`` and the platform-neutral parts of it: the root filesystem,
mounts, lifecycle hooks and annotations (with the annotation keys pouch
writes). ``Spec`` is what a runtime driver receives and what plugins adjust in
``pouch_container_create``; ``msgspec.json.encode(spec)`` is the bundle's
config.json.
"""

from __future__ import annotations

import msgspec

from ._base import OCI_VERSION, OCIStruct
from .linux import Linux, LinuxIDMapping
from .process import Process

__all__ = [
    "ANNOTATION_CGROUPNS",
    "ANNOTATION_CONTAINER_ID",
    "ANNOTATION_NEEDS_HOOKS",
    "ANNOTATION_STDIN",
    "ANNOTATION_STOP_SIGNAL",
    "Hook",
    "Hooks",
    "Mount",
    "Root",
    "Spec",
]

# Annotation keys pouch sets (reverse-domain, as the spec asks).
ANNOTATION_CONTAINER_ID = "io.pouch.container.id"
# The effective stop signal (image default or the user's), e.g. "SIGTERM";
# the spec has no field for it but the engine and runtimes need it.
ANNOTATION_STOP_SIGNAL = "io.pouch.container.stop-signal"
# Set by a create hook whose OCI hooks the container cannot do without (an
# initscript): its value says what, for the refusal on a runtime without hooks.
ANNOTATION_NEEDS_HOOKS = "io.pouch.container.needs-hooks"
# Set when the container keeps stdin open (the spec itself has no field for it):
# "true", or "once" when it closes as its first attached client's input ends.
ANNOTATION_STDIN = "io.pouch.container.stdin"
# Set by the plugin that gave the container lxcfs's /proc files (the lxcfs mount
# used); a container that asked for them and lacks it is refused.
ANNOTATION_LXCFS = "io.pouch.container.lxcfs"
# "host" when the user asked for the host's cgroup namespace (--cgroupns host):
# the spec alone cannot tell it from "the runtime's default" on cgroup v1.
ANNOTATION_CGROUPNS = "io.pouch.container.cgroupns"


class Root(OCIStruct, kw_only=True):
    """The root filesystem, ``path`` relative to the bundle (``"rootfs"``)."""

    path: str
    readonly: bool = False


class Mount(OCIStruct, kw_only=True):
    """A mount on top of the root filesystem, fstab-style ``options``."""

    destination: str
    type: str = ""
    source: str = ""
    options: list[str] = []
    uid_mappings: list[LinuxIDMapping] = msgspec.field(default_factory=list, name="uidMappings")
    gid_mappings: list[LinuxIDMapping] = msgspec.field(default_factory=list, name="gidMappings")


class Hook(OCIStruct, kw_only=True):
    """A program the runtime runs at a lifecycle point; ``timeout`` in seconds."""

    path: str
    args: list[str] = []
    env: list[str] = []
    timeout: int | None = None


class Hooks(OCIStruct, kw_only=True):
    """Hooks per lifecycle point (``prestart`` is deprecated by the spec)."""

    prestart: list[Hook] = []
    create_runtime: list[Hook] = msgspec.field(default_factory=list, name="createRuntime")
    create_container: list[Hook] = msgspec.field(default_factory=list, name="createContainer")
    start_container: list[Hook] = msgspec.field(default_factory=list, name="startContainer")
    poststart: list[Hook] = []
    poststop: list[Hook] = []


def _oci_version() -> str:
    return OCI_VERSION


class Spec(OCIStruct, kw_only=True):
    """A container's config.json."""

    # A default_factory (not a plain default) so omit_defaults still writes
    # this REQUIRED field while callers need not pass it.
    oci_version: str = msgspec.field(default_factory=_oci_version, name="ociVersion")
    process: Process | None = None
    root: Root | None = None
    hostname: str = ""
    domainname: str = ""
    mounts: list[Mount] = []
    hooks: Hooks | None = None
    annotations: dict[str, str] = {}
    linux: Linux | None = None

    def add_hooks(self) -> Hooks:
        """The spec's hooks, made empty first when it has none (for a create hook to add to)."""
        if self.hooks is None:
            self.hooks = Hooks()
        return self.hooks
