"""How a container config and its image combine into the OCI ``process``.

Owns Docker's merge rules (entrypoint and cmd, environment, working
directory, user, stop signal) and the rlimits with their host ceiling. Reads
nothing from the host except the calling process's own rlimits, and never
looks inside the container's filesystem: names that need ``/etc/passwd`` are
passed on unresolved.
"""

from __future__ import annotations

import posixpath
import re
import resource
import signal
from collections.abc import Iterable, Mapping

from pouch.errors import InvalidArgument
from pouch.models import ContainerConfig, Ulimit, parse_signal

from .image import ImageConfig
from .process import RLIM_INFINITY, Rlimit, User

__all__ = [
    "DEFAULT_NOFILE",
    "DEFAULT_PATH_ENV",
    "RLIMIT_NAMES",
    "command",
    "environment",
    "host_rlimit_ceiling",
    "merge_env",
    "parse_user",
    "rlimits",
    "stop_signal",
    "working_dir",
]

DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_NOFILE = 1048576
# Docker's ulimit names (``--ulimit nofile=...``) and their rlimit names.
RLIMIT_NAMES = {
    name: "RLIMIT_" + name.upper()
    for name in (
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    )
}
_MAX_ID = 2**32 - 2  # (uid_t)-1 is "no change" to the kernel, never a real id
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\$?")


def command(config: ContainerConfig, image: ImageConfig) -> list[str]:
    """``args`` as Docker computes them.

    A non-empty user entrypoint replaces the image's and drops the image's cmd
    (only the user's cmd follows it). Otherwise the user's cmd, if non-empty,
    replaces the image's, and an explicitly empty entrypoint (``[]``, Docker's
    ``--entrypoint ""``) suppresses the image's entrypoint. Empty when
    neither sets one: a create hook may still give one (a rich container's
    init); the engine refuses the container if none does.
    """
    if config.entrypoint:
        return [*config.entrypoint, *(config.cmd or [])]
    cmd = config.cmd or image.cmd or []
    entrypoint = (image.entrypoint or []) if config.entrypoint is None else []
    return [*entrypoint, *cmd]


def merge_env(base: Iterable[str], overrides: Iterable[str]) -> list[str]:
    """``base`` with each ``NAME=value`` of ``overrides`` replacing or appending.

    A bare ``NAME`` in ``overrides`` removes the variable, as in Docker.
    """
    merged = {item.partition("=")[0]: item for item in base}
    for item in overrides:
        name, sep, _ = item.partition("=")
        if sep:
            merged[name] = item
        else:
            merged.pop(name, None)
    return list(merged.values())


def environment(config: ContainerConfig, image: ImageConfig, hostname: str) -> list[str]:
    """The process environment: Docker's defaults, then the image's, then the user's.

    PATH gets a default only when neither image nor user sets one; HOSTNAME
    (and TERM for a tty) come first and can be overridden.
    """
    merged = merge_env(image.env or [], config.env)
    defaults = [] if any(e.startswith("PATH=") for e in merged) else [DEFAULT_PATH_ENV]
    defaults.append(f"HOSTNAME={hostname}")
    if config.tty:
        defaults.append("TERM=xterm")
    return merge_env(defaults, merged)


def working_dir(config: ContainerConfig, image: ImageConfig) -> str:
    if config.working_dir:
        return config.working_dir
    # Images may carry a relative WorkingDir; Docker roots it at "/".
    return posixpath.normpath(posixpath.join("/", image.working_dir or "/"))


def _id(text: str, what: str, field: str, source: str) -> int | None:
    """A numeric id, or None for a name; InvalidArgument for anything else."""
    if text.isdigit():
        number = int(text)
        if number > _MAX_ID:
            raise InvalidArgument(f"{what} {number} in {source!r} is out of range", field=field)
        return number
    if not _NAME.fullmatch(text):
        raise InvalidArgument(f"{source!r} is not a valid {what} name or number", field=field)
    return None


def parse_user(text: str, *, field: str = "user") -> User:
    """Parse Docker's ``user[:group]`` (names or numbers) into an OCI user.

    ``""`` is root. A fully numeric ``uid:gid`` is final. Anything else needs
    the container's ``/etc/passwd`` and ``/etc/group`` (a name, or a bare uid
    whose primary group Docker takes from passwd): then ``username`` carries
    the text verbatim for the runtime layer to resolve before the spec
    reaches a runtime, and ``uid``/``gid`` hold the numeric parts (0 for the
    others). Raises InvalidArgument naming ``field`` when the text is neither.
    """
    if not text:
        return User(uid=0, gid=0)
    user, sep, group = text.partition(":")
    if not user or (sep and not group):
        raise InvalidArgument(f"{text!r} is not user[:group]", field=field)
    uid = _id(user, "user", field, text)
    gid = _id(group, "group", field, text) if sep else None
    if uid is not None and gid is not None:
        return User(uid=uid, gid=gid)
    return User(uid=uid or 0, gid=gid or 0, username=text)


def stop_signal(config: ContainerConfig, image: ImageConfig) -> str:
    """The signal that stops the container: the user's, else the image's, else SIGTERM."""
    chosen, field = config.stop_signal, "stop_signal"
    if parse_signal(chosen) == signal.SIGTERM and image.stop_signal:
        chosen, field = image.stop_signal, "image.StopSignal"
    try:
        number = parse_signal(chosen)
    except ValueError as error:
        raise InvalidArgument(str(error), field=field) from None
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _rlimit_name(name: str) -> str | None:
    upper = name.upper()
    if upper.startswith("RLIMIT_"):
        return upper if upper in RLIMIT_NAMES.values() else None
    return RLIMIT_NAMES.get(name.lower())


def host_rlimit_ceiling() -> dict[str, int]:
    """The calling process's hard limits by rlimit name (RLIM_INFINITY when unlimited).

    A runtime without CAP_SYS_RESOURCE cannot raise a hard limit above its
    own, and it inherits pouchd's.
    """
    ceiling: dict[str, int] = {}
    for name in RLIMIT_NAMES.values():
        number = getattr(resource, name, None)
        if number is None:
            continue
        hard = resource.getrlimit(number)[1]
        ceiling[name] = RLIM_INFINITY if hard == resource.RLIM_INFINITY else hard
    return ceiling


def _unlimited(value: int) -> int:
    return RLIM_INFINITY if value < 0 else value


def rlimits(ulimits: Iterable[Ulimit], ceiling: Mapping[str, int]) -> list[Rlimit]:
    """The user's ulimits plus a default RLIMIT_NOFILE, none above ``ceiling``.

    ``-1`` means unlimited in both the ulimits and ``ceiling``; an rlimit
    missing from ``ceiling`` is not capped. A soft limit above the capped hard
    limit is lowered to it.
    """
    wanted: dict[str, tuple[int, int]] = {"RLIMIT_NOFILE": (DEFAULT_NOFILE, DEFAULT_NOFILE)}
    seen: set[str] = set()
    for index, ulimit in enumerate(ulimits):
        field = f"ulimits[{index}].name"
        name = _rlimit_name(ulimit.name)
        if name is None:
            known = ", ".join(sorted(RLIMIT_NAMES))
            raise InvalidArgument(f"unknown ulimit {ulimit.name!r} (known: {known})", field=field)
        if name in seen:
            raise InvalidArgument(f"ulimit {ulimit.name!r} is given twice", field=field)
        seen.add(name)
        wanted[name] = (_unlimited(ulimit.soft), _unlimited(ulimit.hard))
    caps = {_rlimit_name(k) or k: _unlimited(v) for k, v in ceiling.items()}
    result = []
    for name, (soft, hard) in wanted.items():
        hard = min(hard, caps.get(name, RLIM_INFINITY))
        result.append(Rlimit(type=name, hard=hard, soft=min(soft, hard)))
    return result
