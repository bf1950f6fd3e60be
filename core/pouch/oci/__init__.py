"""OCI runtime-spec and image-spec types, and the default spec of a container.

The structs (one module per spec section: ``spec``, ``process``, ``linux``,
``resources``, ``seccomp``, ``image``) keep the specs' JSON names verbatim, so
``msgspec.json.encode(spec)`` is a bundle's config.json and
``msgspec.json.decode(data, type=Spec)`` reads one back. ``build_spec`` turns a
``pouch.models.ContainerConfig`` into a ``Spec`` the way Docker does; plugins
then adjust it in ``pouch_container_create``.
"""

from __future__ import annotations

from ._base import OCI_VERSION, OCIStruct
from ._modes import DEFAULT_SHM_SIZE, join_namespace, joined_modes
from ._mounts import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, default_mounts
from ._process import merge_env, parse_user
from .capabilities import DEFAULT_CAPABILITIES, all_capabilities, capability_set
from .defaults import (
    build_spec,
    default_device_rules,
    detect_cgroup_version,
    resources_from,
)
from .image import ImageConfig
from .linux import (
    Linux,
    LinuxDevice,
    LinuxIDMapping,
    LinuxNamespace,
    LinuxPersonality,
    NamespaceType,
)
from .process import (
    RLIM_INFINITY,
    Box,
    LinuxCapabilities,
    LinuxIOPriority,
    Process,
    Rlimit,
    User,
)
from .resources import (
    LinuxBlockIO,
    LinuxCPU,
    LinuxDeviceCgroup,
    LinuxHugepageLimit,
    LinuxMemory,
    LinuxPids,
    LinuxResources,
    LinuxThrottleDevice,
    LinuxWeightDevice,
)
from .seccomp import LinuxSeccomp, LinuxSeccompArg, LinuxSyscall
from .spec import (
    ANNOTATION_CGROUPNS,
    ANNOTATION_CONTAINER_ID,
    ANNOTATION_LXCFS,
    ANNOTATION_NEEDS_HOOKS,
    ANNOTATION_STDIN,
    ANNOTATION_STOP_SIGNAL,
    Hook,
    Hooks,
    Mount,
    Root,
    Spec,
)

__all__ = [
    "ANNOTATION_CGROUPNS",
    "ANNOTATION_CONTAINER_ID",
    "ANNOTATION_LXCFS",
    "ANNOTATION_NEEDS_HOOKS",
    "ANNOTATION_STDIN",
    "ANNOTATION_STOP_SIGNAL",
    "DEFAULT_CAPABILITIES",
    "DEFAULT_MASKED_PATHS",
    "DEFAULT_READONLY_PATHS",
    "DEFAULT_SHM_SIZE",
    "OCI_VERSION",
    "RLIM_INFINITY",
    "Box",
    "Hook",
    "Hooks",
    "ImageConfig",
    "Linux",
    "LinuxBlockIO",
    "LinuxCPU",
    "LinuxCapabilities",
    "LinuxDevice",
    "LinuxDeviceCgroup",
    "LinuxHugepageLimit",
    "LinuxIDMapping",
    "LinuxIOPriority",
    "LinuxMemory",
    "LinuxNamespace",
    "LinuxPersonality",
    "LinuxPids",
    "LinuxResources",
    "LinuxSeccomp",
    "LinuxSeccompArg",
    "LinuxSyscall",
    "LinuxThrottleDevice",
    "LinuxWeightDevice",
    "Mount",
    "NamespaceType",
    "OCIStruct",
    "Process",
    "Rlimit",
    "Root",
    "Spec",
    "User",
    "all_capabilities",
    "build_spec",
    "capability_set",
    "default_device_rules",
    "default_mounts",
    "detect_cgroup_version",
    "join_namespace",
    "joined_modes",
    "merge_env",
    "parse_user",
    "resources_from",
]
