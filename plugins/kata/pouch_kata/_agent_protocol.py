"""The messages between the host and the guest agent, as msgspec structs.

The wire format is one stream of frames, each a 4-byte big-endian length and
one JSON object (see ``agent/frame.go`` and ``agent/messages.go``, which this
module mirrors). Requests carry an ``id`` and a ``type``; the agent answers
each with a ``reply`` or an ``error`` of the same id, and sends ``output`` and
``exit`` events, which carry no id, whenever a process has something to say.
Byte fields (``data``) travel as base64, which msgspec encodes and decodes.
"""

from __future__ import annotations

import struct
from typing import Literal

import msgspec

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "Capabilities",
    "CodeResult",
    "Create",
    "Empty",
    "ErrorReply",
    "Exec",
    "Exit",
    "GuestMount",
    "Incoming",
    "Network",
    "NetworkSettings",
    "Output",
    "PidResult",
    "ProcessSpec",
    "Reply",
    "Request",
    "Resize",
    "Resources",
    "Shutdown",
    "Signal",
    "Start",
    "StatsRequest",
    "StatsResult",
    "Stdin",
    "Update",
    "Version",
    "VersionResult",
    "Wait",
    "frame",
]

#: the length prefix of every frame.
HEADER = struct.Struct(">I")
#: the agent refuses larger frames, and so does the client.
MAX_FRAME = 16 << 20


def frame(payload: bytes) -> bytes:
    """One frame carrying ``payload``."""
    if len(payload) > MAX_FRAME:
        raise ValueError(f"message of {len(payload)} bytes is larger than {MAX_FRAME}")
    return HEADER.pack(len(payload)) + payload


class Capabilities(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The OCI process's capability sets, each a list of ``CAP_*`` names."""

    bounding: list[str] = []
    effective: list[str] = []
    permitted: list[str] = []
    inheritable: list[str] = []
    ambient: list[str] = []


class ProcessSpec(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What to run: the part of an OCI process the agent knows so far."""

    args: list[str]
    env: list[str] = []
    cwd: str = ""
    terminal: bool = False
    uid: int = 0
    gid: int = 0
    capabilities: Capabilities | None = None
    no_new_privileges: bool = False
    #: a classic BPF program (``struct sock_filter`` array) the agent installs.
    seccomp: bytes = b""


# -- requests ----------------------------------------------------------------


class Request(msgspec.Struct, tag_field="type", omit_defaults=True, kw_only=True):
    #: set by the client when it sends the request.
    id: int = 0


class Version(Request, tag="version", kw_only=True):
    pass


class Resources(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A container's cgroup limits in the guest; 0 is none."""

    memory: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    pids: int = 0


class StatsResult(msgspec.Struct, kw_only=True):
    cpu_usage_ns: int = 0
    memory: int = 0
    memory_limit: int = 0
    pids: int = 0


class Update(Request, tag="update", kw_only=True):
    container: str
    resources: Resources


class StatsRequest(Request, tag="stats", kw_only=True):
    container: str


class GuestMount(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One of the container's mounts; a bind's source is a path in the guest."""

    destination: str
    type: str = ""
    source: str = ""
    options: list[str] = []


class Create(Request, tag="create", kw_only=True):
    """Make a container: its first process, in new PID, mount, UTS and IPC
    namespaces and chrooted into ``rootfs``, stopped before execve."""

    container: str
    rootfs: str
    hostname: str = ""
    spec: ProcessSpec
    mounts: list[GuestMount] = []
    readonly: bool = False
    sysctls: dict[str, str] = {}
    resources: Resources | None = None
    #: hidden (``/dev/null`` or an empty tmpfs over them) and read-only paths.
    masked_paths: list[str] = []
    readonly_paths: list[str] = []


class Start(Request, tag="start", kw_only=True):
    container: str


class Exec(Request, tag="exec", kw_only=True):
    """Start a further process ``process`` in the running container's namespaces."""

    container: str
    process: str
    spec: ProcessSpec


class Signal(Request, tag="signal", kw_only=True):
    process: str
    signal: int


class Wait(Request, tag="wait", kw_only=True):
    process: str


class Stdin(Request, tag="stdin", kw_only=True):
    process: str
    data: bytes = b""
    close: bool = False


class Resize(Request, tag="resize", kw_only=True):
    process: str
    rows: int
    cols: int


class Shutdown(Request, tag="shutdown", kw_only=True):
    pass


class NetworkSettings(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The guest's card (found by ``mac``): MTU, addresses (CIDR), default gateways."""

    mac: str
    mtu: int = 0
    addresses: list[str] = []
    gateways: list[str] = []


class Network(Request, tag="network", kw_only=True):
    network: NetworkSettings


# -- what the agent sends ----------------------------------------------------


class _Incoming(msgspec.Struct, tag_field="type", kw_only=True):
    pass


class Reply(_Incoming, tag="reply", kw_only=True):
    id: int
    result: msgspec.Raw = msgspec.Raw(b"null")


class ErrorReply(_Incoming, tag="error", kw_only=True):
    id: int
    error: str


class Output(_Incoming, tag="output", kw_only=True):
    process: str
    stream: Literal["stdout", "stderr"]
    data: bytes


class Exit(_Incoming, tag="exit", kw_only=True):
    process: str
    code: int
    oom: bool = False  # a container's first process, killed for its cgroup's memory


Incoming = Reply | ErrorReply | Output | Exit


# -- results -------------------------------------------------------------------


class VersionResult(msgspec.Struct, kw_only=True):
    version: str
    protocol: int
    pid: int


class PidResult(msgspec.Struct, kw_only=True):
    pid: int


class CodeResult(msgspec.Struct, kw_only=True):
    code: int


class Empty(msgspec.Struct):
    pass
