"""The CNI runtime's verbs over a network configuration list, as libcni does them.

ADD runs the plugins in order, each given the previous one's result as
``prevResult`` and the runtime's capability arguments (``runtimeConfig``) it
declared; the cache entry is rewritten after every plugin, so a crash at any
point leaves what is needed to undo it. A failure part-way DELs what was
added, in reverse, before the error goes up. DEL runs the chain in reverse
with the cached result; CHECK in order; GC and STATUS only where the list's
``cniVersion`` is 1.1.0 or newer (older plugins do not know them).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import anyio

from pouch_cni._cache import AttachmentCache
from pouch_cni._exec import PluginRunner, newest, version_at_least
from pouch_cni._types import CacheEntry, CNIError

__all__ = ["add", "check", "delete", "garbage_collect", "plugin_conf", "status"]

log = logging.getLogger(__name__)


def plugin_conf(
    conflist: dict[str, Any],
    index: int,
    prev_result: dict[str, Any] | None,
    capability_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The configuration plugin ``index`` of the list receives on stdin."""
    conf: dict[str, Any] = copy.deepcopy(conflist["plugins"][index])
    conf["name"] = conflist["name"]
    conf["cniVersion"] = conflist["cniVersion"]
    if prev_result is not None:
        conf["prevResult"] = prev_result
    runtime_config = {
        key: value
        for key, value in (capability_args or {}).items()
        if conf.get("capabilities", {}).get(key)
    }
    if runtime_config:
        conf["runtimeConfig"] = runtime_config
    return conf


async def add(runner: PluginRunner, cache: AttachmentCache, entry: CacheEntry) -> CacheEntry:
    """ADD every plugin of ``entry.config``; on failure undo, drop the entry, raise."""
    plugins = entry.config["plugins"]
    cache.put(entry)
    try:
        for index in range(len(plugins)):
            conf = plugin_conf(entry.config, index, entry.result, entry.capabilityArgs)
            result = await runner.run(
                "ADD",
                conf,
                container_id=entry.containerId,
                netns=entry.netns,
                ifname=entry.ifName,
                args=entry.cniArgs,
            )
            if result is not None:
                entry.result = result
            entry.added = index + 1
            cache.put(entry)
    except BaseException:
        with anyio.CancelScope(shield=True):
            try:
                await delete(runner, entry, entry.netns)
            except Exception as exc:  # the ADD's error is the one to report
                log.warning("undoing a failed ADD of %s: %s", entry.key, exc)
            else:
                cache.remove(entry)
        raise
    entry.complete = True
    cache.put(entry)
    return entry


async def delete(runner: PluginRunner, entry: CacheEntry, netns: str) -> None:
    """DEL in reverse every plugin that was (or may have been) added.

    Every plugin is asked even when one fails, so each releases what it can;
    the first error is raised at the end.
    """
    plugins = entry.config["plugins"]
    count = len(plugins) if entry.complete else min(entry.added + 1, len(plugins))
    first: CNIError | None = None
    for index in reversed(range(count)):
        conf = plugin_conf(entry.config, index, entry.result, entry.capabilityArgs)
        try:
            await runner.run(
                "DEL",
                conf,
                container_id=entry.containerId,
                netns=netns,
                ifname=entry.ifName,
                args=entry.cniArgs,
            )
        except CNIError as exc:
            log.warning("DEL of %s: %s", entry.key, exc)
            first = first or exc
    if first is not None:
        raise first


async def check(runner: PluginRunner, entry: CacheEntry, netns: str) -> None:
    """CHECK every plugin with the cached result; the first error is raised."""
    if entry.config.get("disableCheck") or not version_at_least(
        entry.config["cniVersion"], "0.4.0"
    ):
        return
    for index in range(len(entry.config["plugins"])):
        conf = plugin_conf(entry.config, index, entry.result, entry.capabilityArgs)
        await runner.run(
            "CHECK",
            conf,
            container_id=entry.containerId,
            netns=netns,
            ifname=entry.ifName,
            args=entry.cniArgs,
        )


async def garbage_collect(
    runner: PluginRunner, conflist: dict[str, Any], valid: list[tuple[str, str]]
) -> bool:
    """Send GC with the still-valid attachments; False when the list predates 1.1."""
    if conflist.get("disableGC") or not version_at_least(conflist["cniVersion"], "1.1.0"):
        return False
    attachments = [{"containerID": cid, "ifname": ifname} for cid, ifname in valid]
    for index in range(len(conflist["plugins"])):
        conf = plugin_conf(conflist, index, None)
        # Both keys: an early 1.1 draft named it "cni.dev/attachments".
        conf["cni.dev/valid-attachments"] = attachments
        conf["cni.dev/attachments"] = attachments
        await runner.run("GC", conf)
    return True


async def status(runner: PluginRunner, conflist: dict[str, Any]) -> dict[str, str]:
    """STATUS of each plugin: "ready", or why it was not asked. Raises its error."""
    answers: dict[str, str] = {}
    for index, plugin in enumerate(conflist["plugins"]):
        name = str(plugin.get("type", ""))
        supported = await runner.versions(name)
        if not any(version_at_least(v, "1.1.0") for v in supported):
            answers[name] = f"unsupported (speaks CNI {newest(supported) or '?'} at most)"
            continue
        conf = plugin_conf(conflist, index, None)
        conf["cniVersion"] = "1.1.0"
        await runner.run("STATUS", conf)
        answers[name] = "ready"
    return answers
