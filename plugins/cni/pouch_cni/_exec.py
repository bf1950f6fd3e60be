"""Running CNI plugin binaries: the environment, stdin config, result or error.

This module is the only place a plugin process is started. It finds the binary
by the config's ``type`` in the plugin directories (as ``CNI_PATH`` says),
passes the spec's ``CNI_*`` variables, writes the network configuration to
stdin and turns a non-zero exit into ``CNIError`` with the plugin's own error
code, message and details. It knows nothing of chains or caches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import msgspec
from anyio.abc import ByteReceiveStream, ByteSendStream

from pouch_cni._types import (
    DECODING_FAILURE,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CNIError,
    ErrorResult,
    MissingPlugin,
    VersionResult,
)

__all__ = ["PluginRunner", "highest_common_version", "newest", "version_at_least"]

# Plugins call iptables, ip and sysctl themselves: make sure sbin is searched
# even when pouchd was started with a minimal PATH.
_SBIN = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
KNOWN_VERSIONS = ("1.1.0", "1.0.0", "0.4.0", "0.3.1")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def highest_common_version(supported: list[list[str]]) -> str:
    """The newest spec version every plugin of a chain speaks (libcni's rule)."""
    common = set(KNOWN_VERSIONS)
    for versions in supported:
        common &= set(versions)
    if not common:
        return ""
    return max(common, key=_version_key)


def newest(versions: list[str]) -> str:
    return max(versions, key=_version_key, default="")


def version_at_least(version: str, minimum: str) -> bool:
    return _version_key(version) >= _version_key(minimum)


async def _communicate(binary: Path, stdin: bytes, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run ``binary`` with ``stdin``; a plugin may exit without reading it (VERSION)."""
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    async def feed(stream: ByteSendStream) -> None:
        try:
            await stream.send(stdin)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    async def drain(stream: ByteReceiveStream, key: str) -> None:
        async for chunk in stream:
            chunks[key].append(chunk)

    async with await anyio.open_process([str(binary)], env=env) as process:
        assert process.stdin and process.stdout and process.stderr
        async with anyio.create_task_group() as tg:
            tg.start_soon(feed, process.stdin)
            tg.start_soon(drain, process.stdout, "out")
            tg.start_soon(drain, process.stderr, "err")
        code = await process.wait()
    return code, b"".join(chunks["out"]), b"".join(chunks["err"])


class PluginRunner:
    """Executes plugins found in ``directories`` (first match wins)."""

    def __init__(self, directories: list[Path], timeout: float = 60.0) -> None:
        self.directories = directories
        self.timeout = timeout
        self._versions: dict[tuple[str, float], list[str]] = {}
        path = os.environ.get("PATH", "")
        parts = [p for p in path.split(":") if p]
        parts += [p for p in _SBIN if p not in parts]
        self._path = ":".join(parts)

    def find(self, plugin: str) -> Path:
        """The plugin binary; ``MissingPlugin`` naming it and the package otherwise."""
        if "/" in plugin or not plugin:
            raise MissingPlugin(plugin, [str(d) for d in self.directories])
        for directory in self.directories:
            candidate = directory / plugin
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        raise MissingPlugin(plugin, [str(d) for d in self.directories])

    def missing(self, plugins: list[str]) -> list[str]:
        found = []
        for plugin in plugins:
            try:
                self.find(plugin)
            except MissingPlugin:
                found.append(plugin)
        return found

    async def run(
        self,
        command: str,
        conf: dict[str, Any],
        *,
        container_id: str = "",
        netns: str = "",
        ifname: str = "",
        args: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        """Run ``conf["type"]`` for ``command``; the decoded stdout, or None when empty."""
        plugin = str(conf.get("type", ""))
        binary = self.find(plugin)
        env = {
            "PATH": self._path,
            "CNI_COMMAND": command,
            "CNI_PATH": ":".join(str(d) for d in self.directories),
        }
        if container_id:
            env["CNI_CONTAINERID"] = container_id
        if command in ("ADD", "DEL", "CHECK"):
            env["CNI_NETNS"] = netns
            env["CNI_IFNAME"] = ifname
            env["CNI_ARGS"] = ";".join(f"{k}={v}" for k, v in args or [])
        try:
            with anyio.fail_after(self.timeout):
                code, out, err = await _communicate(binary, json.dumps(conf).encode(), env)
        except TimeoutError:
            late = f"no answer within {self.timeout:g}s"
            raise CNIError(plugin, command, TRY_AGAIN_LATER, late) from None
        except OSError as exc:
            raise CNIError(plugin, command, IO_FAILURE, f"cannot run {binary}: {exc}") from None
        out = out.strip()
        if code != 0:
            raise self._error(plugin, command, out, err)
        if not out:
            return None
        try:
            decoded = json.loads(out)
        except ValueError:
            unreadable = f"unreadable result: {out[:200]!r}"
            raise CNIError(plugin, command, DECODING_FAILURE, unreadable) from None
        return decoded if isinstance(decoded, dict) else None

    @staticmethod
    def _error(plugin: str, command: str, out: bytes, err: bytes) -> CNIError:
        try:
            error = msgspec.json.decode(out, type=ErrorResult)
        except msgspec.DecodeError:
            text = (err or out).decode(errors="replace").strip() or "exited with an error"
            return CNIError(plugin, command, 999, text[:2000])
        return CNIError(plugin, command, error.code, error.msg, error.details)

    async def versions(self, plugin: str) -> list[str]:
        """The spec versions a plugin binary supports (VERSION), cached per binary."""
        binary = self.find(plugin)
        key = (str(binary), binary.stat().st_mtime)
        if key not in self._versions:
            answer = await self.run("VERSION", {"cniVersion": "1.0.0", "type": plugin})
            decoded = msgspec.convert(answer or {}, VersionResult, strict=False)
            self._versions[key] = decoded.supportedVersions
        return self._versions[key]
