"""Parsers for flag values, with docker's syntax and docker's units.

Each takes the text a user typed and returns what the API wants, or raises
``UsageError`` with a message that names the bad value.
"""

from __future__ import annotations

import os

from pouch.cli._errors import UsageError
from pouch.cli._jsonc import dumps
from pouch.humanize import go_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "parse_cpus",
    "parse_detach_keys",
    "parse_duration",
    "parse_filters",
    "parse_kv",
    "parse_memory_swap",
    "parse_ports",
    "parse_restart",
    "parse_size",
    "parse_ulimit",
    "parse_volume",
    "read_env_file",
    "resolve_env",
]

# Patterns are strings, compiled (and cached by ``re``) on first use, not at import.
_SIZE = r"^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str) -> int:
    """``512m`` → 536870912: binary units b, k, m, g, t, p (``1.5g`` and ``64MB`` too)."""
    import re

    match = re.match(_SIZE, text.strip(), re.IGNORECASE)
    if not match:
        raise UsageError(f"invalid size {text!r}: use a number with an optional unit b, k, m, g")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_duration(text: str, flag: str) -> int:
    """Go's durations, as docker's ``--health-interval`` takes them: ``1m30s`` → nanoseconds."""
    value = text.strip()
    if value == "0":
        return 0
    nanoseconds = go_duration(value)
    if nanoseconds is None:
        raise UsageError(f"invalid {flag} {text!r}: use a duration such as 30s, 1m30s or 500ms")
    return nanoseconds


def parse_memory_swap(text: str) -> int:
    """``--memory-swap``: a size (memory plus swap) or -1 for unlimited swap."""
    return -1 if text.strip() == "-1" else parse_size(text)


def parse_cpus(text: str) -> int:
    """``--cpus 1.5`` → NanoCpus 1500000000."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"invalid --cpus {text!r}: use a number such as 0.5 or 2") from None
    if not value > 0:
        raise UsageError(f"invalid --cpus {text!r}: must be more than 0")
    return round(value * 1e9)


def parse_restart(text: str) -> dict[str, object]:
    """``no``, ``always``, ``unless-stopped`` or ``on-failure[:N]`` → a RestartPolicy."""
    name, sep, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise UsageError(
            f"invalid restart policy {text!r}: use no, always, unless-stopped or on-failure[:N]"
        )
    if sep and name != "on-failure":
        raise UsageError(f"invalid restart policy {text!r}: only on-failure takes a retry count")
    if sep and not count.isdigit():
        raise UsageError(f"invalid restart policy {text!r}: the retry count must be a number")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def _port_range(text: str, what: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    if not start.isdigit() or (end and not end.isdigit()):
        raise UsageError(f"invalid {what} port {text!r}")
    low, high = int(start), int(end or start)
    if not 0 < low <= high <= 65535:
        raise UsageError(f"invalid {what} port {text!r}: ports are 1-65535")
    return low, high


def parse_ports(
    specs: Iterable[str],
) -> tuple[dict[str, dict[str, object]], dict[str, list[dict[str, str]]]]:
    """``-p [ip:][host:]container[/proto]`` → (ExposedPorts, PortBindings).

    Ranges work on both sides when they have the same length; a host range with
    a single container port lets the daemon pick one port from the range.
    """
    exposed: dict[str, dict[str, object]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        rest, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp", "sctp"):
            raise UsageError(f"invalid port {spec!r}: protocol must be tcp, udp or sctp")
        ip = ""
        if rest.startswith("["):
            ip, sep, rest = rest[1:].partition("]:")
            if not sep:
                raise UsageError(f"invalid port {spec!r}: use [IPv6]:HOST:CONTAINER")
            host, _, container = rest.rpartition(":")
        else:
            parts = rest.split(":")
            if len(parts) > 3 or not parts[-1]:
                raise UsageError(f"invalid port {spec!r}: use [IP:][HOST:]CONTAINER[/PROTO]")
            container = parts[-1]
            host = parts[-2] if len(parts) >= 2 else ""
            ip = parts[0] if len(parts) == 3 else ""
        c_low, c_high = _port_range(container, "container")
        h_low = h_high = 0
        if host:
            h_low, h_high = _port_range(host, "host")
        single_container = c_low == c_high
        if host and not single_container and h_high - h_low != c_high - c_low:
            raise UsageError(f"invalid port {spec!r}: host and container ranges differ in length")
        for offset, port in enumerate(range(c_low, c_high + 1)):
            key = f"{port}/{proto}"
            exposed[key] = {}
            if not host:
                host_port = ""
            elif single_container:
                host_port = host
            else:
                host_port = str(h_low + offset)
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host_port})
    return exposed, bindings


_VOLUME_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]+$"
_VOLUME_MODES = {
    "ro",
    "rw",
    "z",
    "Z",
    "nocopy",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "delegated",
    "cached",
    "consistent",
}


def parse_volume(spec: str) -> tuple[str | None, str]:
    """``-v`` → (a Binds entry, target); the entry is None for an anonymous ``-v /dst``.

    ``SRC`` is a host path (``./dir`` and ``~/dir`` are made absolute) or a
    volume name; ``MODE`` is comma-separated (``ro``, ``rw``, ``z``, propagation).
    """
    import re

    parts = spec.split(":")
    if len(parts) == 1:
        if not spec.startswith("/"):
            raise UsageError(f"invalid volume {spec!r}: the target must be an absolute path")
        return None, spec
    if len(parts) > 3 or not all(parts[:2]):
        raise UsageError(f"invalid volume {spec!r}: use SRC:DST[:MODE]")
    source, target = parts[0], parts[1]
    if not target.startswith("/"):
        raise UsageError(f"invalid volume {spec!r}: the target {target!r} must be an absolute path")
    if source.startswith(("~", ".")):
        source = os.path.abspath(os.path.expanduser(source))
    elif not source.startswith("/") and not re.match(_VOLUME_NAME, source):
        raise UsageError(
            f"invalid volume {spec!r}: {source!r} is neither an absolute path nor a volume name"
        )
    entry = f"{source}:{target}"
    if len(parts) == 3:
        modes = parts[2].split(",")
        unknown = [m for m in modes if m not in _VOLUME_MODES]
        if unknown or ("ro" in modes and "rw" in modes):
            raise UsageError(f"invalid volume {spec!r}: bad mode {parts[2]!r}")
        entry += f":{parts[2]}"
    return entry, target


def read_env_file(path: str) -> list[str]:
    """``--env-file``: ``NAME=VALUE`` lines; ``#`` comments and blank lines skipped.

    Quotes are kept as written (as docker does); a bare ``NAME`` takes its value
    from this shell's environment and is dropped when unset there.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read env file {path!r}: {exc}") from None
    result: list[str] = []
    for number, line in enumerate(lines, 1):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        name = stripped.partition("=")[0]
        if not name or any(c.isspace() for c in name):
            raise UsageError(f"{path}:{number}: variable name {name!r} is empty or has spaces")
        result.append(stripped)
    return resolve_env(result, os.environ)


def resolve_env(items: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """``NAME`` alone takes this shell's value (dropped when unset); ``NAME=V`` stays."""
    result: list[str] = []
    for item in items:
        name, sep, _ = item.partition("=")
        if not name:
            raise UsageError(f"invalid environment variable {item!r}: the name is empty")
        if sep:
            result.append(item)
        elif name in environ:
            result.append(f"{name}={environ[name]}")
    return result


def parse_kv(items: Iterable[str], flag: str, *, need_value: bool = True) -> dict[str, str]:
    """Repeated ``KEY=VALUE`` flags (``--label``, ``--sysctl``, ``--log-opt``) → a dict."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or (need_value and not sep):
            raise UsageError(f"invalid {flag} {item!r}: use KEY=VALUE")
        result[key] = value
    return result


def parse_ulimit(text: str) -> dict[str, object]:
    """``nofile=1024[:2048]`` → ``{"Name": "nofile", "Soft": 1024, "Hard": 2048}``."""
    name, sep, values = text.partition("=")
    soft, _, hard = values.partition(":")
    hard = hard or soft

    def number(v: str) -> int:
        if v == "-1" or v.isdigit():
            return int(v)
        raise UsageError(f"invalid --ulimit {text!r}: use NAME=SOFT[:HARD]")

    if not name or not sep:
        raise UsageError(f"invalid --ulimit {text!r}: use NAME=SOFT[:HARD]")
    return {"Name": name, "Soft": number(soft), "Hard": number(hard)}


_CTRL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(text: str) -> bytes:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11"; each key is one character or ``ctrl-X``."""
    keys = bytearray()
    for part in text.split(","):
        if len(part) == 1:
            keys.append(ord(part))
        elif part.lower().startswith("ctrl-") and len(part) == 6:
            char = part[5].lower()
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
            elif char in _CTRL:
                keys.append(_CTRL[char])
            else:
                raise UsageError(f"invalid detach key {part!r}")
        else:
            raise UsageError(f"invalid detach keys {text!r}: use a list like ctrl-p,ctrl-q")
    return bytes(keys)


def parse_filters(items: Iterable[str]) -> str | None:
    """Repeated ``--filter key=value`` → the API's JSON ``{"key": {"value": true}}``."""
    filters: dict[str, dict[str, bool]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise UsageError(f"invalid filter {item!r}: use key=value")
        filters.setdefault(key.strip().lower(), {})[value] = True
    return dumps(filters) if filters else None
