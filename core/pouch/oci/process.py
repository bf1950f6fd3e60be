"""The ``process`` section of the OCI runtime-spec config.json.

Owns the structs describing the container's first process: its arguments and
environment, the user it runs as, its capabilities and rlimits. Python names
are snake_case; the JSON names are the spec's, verbatim (``noNewPrivileges``,
``oomScoreAdj``, ``consoleSize``). Building a process from a container config
is ``pouch.oci.defaults``' job, not this module's.
"""

from __future__ import annotations

import msgspec

from ._base import OCIStruct

__all__ = [
    "RLIM_INFINITY",
    "Box",
    "LinuxCapabilities",
    "LinuxIOPriority",
    "Process",
    "Rlimit",
    "User",
]

# "unlimited" as the spec's uint64 rlimit fields spell it.
RLIM_INFINITY = 2**64 - 1


class Box(OCIStruct, kw_only=True):
    """A console size in characters (``consoleSize``)."""

    height: int
    width: int


class User(OCIStruct, kw_only=True):
    """The user the process runs as.

    ``uid`` and ``gid`` are required by the spec on Linux. ``username`` is a
    Windows field in the spec; pouch also uses it to carry an unresolved Linux
    ``user[:group]`` name that the runtime layer must resolve against the
    container's ``/etc/passwd`` before handing the spec to a runtime.
    """

    uid: int
    gid: int
    umask: int | None = None
    additional_gids: list[int] = msgspec.field(default_factory=list, name="additionalGids")
    username: str = ""


class LinuxCapabilities(OCIStruct, kw_only=True):
    """Capability sets, each a list of ``CAP_*`` names."""

    bounding: list[str] = []
    effective: list[str] = []
    inheritable: list[str] = []
    permitted: list[str] = []
    ambient: list[str] = []


class Rlimit(OCIStruct, kw_only=True):
    """One POSIX rlimit; ``type`` is e.g. ``RLIMIT_NOFILE``."""

    type: str
    hard: int
    soft: int


class LinuxIOPriority(OCIStruct, kw_only=True):
    """I/O scheduling class (``IOPRIO_CLASS_RT|BE|IDLE``) and priority."""

    class_: str = msgspec.field(name="class")
    priority: int


class Process(OCIStruct, kw_only=True):
    """The container's process. ``user`` and ``cwd`` are required by the spec."""

    terminal: bool = False
    console_size: Box | None = msgspec.field(default=None, name="consoleSize")
    user: User
    args: list[str] = []
    command_line: str = msgspec.field(default="", name="commandLine")
    env: list[str] = []
    cwd: str
    capabilities: LinuxCapabilities | None = None
    rlimits: list[Rlimit] = []
    no_new_privileges: bool = msgspec.field(default=False, name="noNewPrivileges")
    apparmor_profile: str = msgspec.field(default="", name="apparmorProfile")
    oom_score_adj: int | None = msgspec.field(default=None, name="oomScoreAdj")
    selinux_label: str = msgspec.field(default="", name="selinuxLabel")
    io_priority: LinuxIOPriority | None = msgspec.field(default=None, name="ioPriority")
