"""The driver on its own: an ADD failing part-way is undone, DEL is idempotent and
works from the cache alone (as after a restart), the gc releases the dead.

A sandbox here is just a pinned network namespace, made with the engine's own
``create_netns``; no container runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest
from pouch_cni import BridgeDriver, CNIError
from pouch_cni._settings import CNISettings

from pouch.config import EngineConfig
from pouch.drivers import NetworkAttachment, Sandbox
from pouch.netns import create_netns, remove_netns

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.root,
    pytest.mark.binary("iptables", "unshare"),
    pytest.mark.usefixtures("host_guard"),
]


def make_driver(config: EngineConfig, plugin_dirs: list[Path] | None = None) -> BridgeDriver:
    base = config.root / "cni"
    settings = CNISettings(
        conf_dir=base / "net.d",
        cache_dir=base / "cache",
        data_dir=base / "networks",
        plugin_dirs=plugin_dirs or [Path("/usr/lib/cni")],
    )
    return BridgeDriver(settings, default_network="bridge")


async def sandbox(config: EngineConfig, name: str) -> Sandbox:
    path = await create_netns(config.run_root / "netns" / name)
    return Sandbox(id=name, name=name, netns_path=str(path))


async def test_an_add_failing_part_way_is_undone_and_reports_the_plugins_error(
    pouch_config: EngineConfig, tmp_path: Path
) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    firewall = shims / "firewall"
    firewall.write_text(
        "#!/bin/sh\n"
        'if [ "$CNI_COMMAND" = ADD ]; then\n'
        '  echo \'{"cniVersion":"1.0.0","code":7,"msg":"no firewall today",'
        '"details":"test shim"}\'; exit 1\n'
        "fi\n"
        'exec /usr/lib/cni/firewall "$@"\n'
    )
    firewall.chmod(0o755)
    driver = make_driver(pouch_config, [shims, Path("/usr/lib/cni")])
    await driver.create_network("ptfa11ed", {"subnet": "10.231.16.0/24", "bridge": "ptfa11ed"})
    box = await sandbox(pouch_config, "halfway")
    try:
        with pytest.raises(CNIError) as failed:
            await driver.attach(box, "ptfa11ed", {})
        error = failed.value
        assert (error.plugin, error.command, error.code) == ("firewall", "ADD", 7)
        assert (error.msg, error.details) == ("no firewall today", "test shim")
        assert "no firewall today" in str(error)
        assert driver.cache.all() == []
    finally:
        await remove_netns(Path(box.netns_path))
        await driver.remove_network("ptfa11ed")


async def test_del_works_from_the_cache_alone_and_is_idempotent(
    pouch_config: EngineConfig,
) -> None:
    driver = make_driver(pouch_config)
    await driver.create_network("pta6a1e0", {"subnet": "10.231.17.0/24", "bridge": "pta6a1e0"})
    box = await sandbox(pouch_config, "twice")
    try:
        attachment = await driver.attach(box, "pta6a1e0", {})
        assert attachment.interface == "eth0"
        assert attachment.ips[0].startswith("10.231.17.")
        # A new driver (an engine restarted) and no driver_state: the cache suffices.
        restarted = make_driver(pouch_config)
        bare = NetworkAttachment(network="pta6a1e0", interface="eth0")
        await restarted.detach(box, bare)
        assert restarted.cache.all() == []
        await restarted.detach(box, attachment)  # again: nothing to do, no error
        await remove_netns(Path(box.netns_path))
        await restarted.detach(box, attachment)  # and with the namespace gone
    finally:
        await remove_netns(Path(box.netns_path))
        await driver.remove_network("pta6a1e0")


async def test_gc_releases_attachments_of_sandboxes_that_are_gone(
    pouch_config: EngineConfig,
) -> None:
    driver = make_driver(pouch_config)
    await driver.create_network("pt5ee900", {"subnet": "10.231.18.0/24", "bridge": "pt5ee900"})
    boxes = [await sandbox(pouch_config, n) for n in ("kept", "lost", "dead")]
    try:
        for box in boxes:
            await driver.attach(box, "pt5ee900", {})
        # "lost" is still known to the engine but its namespace went away;
        # "dead" is not known at all.
        await remove_netns(Path(boxes[1].netns_path))
        await driver.gc({"kept", "lost"})
        assert [e.containerId for e in driver.cache.all()] == ["kept"]
        await driver.detach(boxes[0], NetworkAttachment(network="pt5ee900", interface="eth0"))
    finally:
        for box in boxes:
            await remove_netns(Path(box.netns_path))
        await driver.gc(set())
        await driver.remove_network("pt5ee900")


@pytest.mark.parametrize("default", [False, True])
async def test_names_are_written_in_place_on_user_networks_only(
    pouch_config: EngineConfig, tmp_path: Path, default: bool
) -> None:
    name = "ptdefa17" if default else "pt05e401"
    driver = BridgeDriver(make_driver(pouch_config).settings, default_network="ptdefa17")
    await driver.create_network(name, {"subnet": "10.231.19.0/24", "bridge": name})
    boxes = [await sandbox(pouch_config, n) for n in ("first", "second")]
    for box in boxes:
        box.hosts_path = str(tmp_path / f"{box.name}.hosts")
        Path(box.hosts_path).write_text("127.0.0.1\tlocalhost\n")
    inode = Path(boxes[0].hosts_path).stat().st_ino
    try:
        first = await driver.attach(boxes[0], name, {})
        second = await driver.attach(boxes[1], name, {})
        written = Path(boxes[0].hosts_path).read_text()
        assert Path(boxes[0].hosts_path).stat().st_ino == inode  # the bind mount still shows it
        if default:  # like docker's default bridge: no names
            assert second.hosts == [] and "second" not in written
        else:
            ip = second.ips[0].split("/")[0]
            assert f"{ip}\tsecond\t# pouch-cni:{name}\n" in written
            assert second.hosts == [f"{first.ips[0].split('/')[0]}\tfirst\t# pouch-cni:{name}"]
        await driver.detach(boxes[1], second)
        assert Path(boxes[0].hosts_path).read_text() == "127.0.0.1\tlocalhost\n"
        await driver.detach(boxes[0], first)
    finally:
        for box in boxes:
            await remove_netns(Path(box.netns_path))
        await driver.gc(set())
        await driver.remove_network(name)


async def test_attachments_racing_onto_a_new_bridge_leave_no_rule_at_its_removal(
    pouch_config: EngineConfig,
) -> None:
    # The firewall plugins of concurrent ADDs each check for the bridge's
    # isolation rules, then add them: both may add one.
    driver = make_driver(pouch_config)
    name = "pt7ace00"
    await driver.create_network(name, {"subnet": "10.231.20.0/24", "bridge": name})
    boxes = [await sandbox(pouch_config, f"race{i}") for i in range(6)]
    try:
        async with anyio.create_task_group() as group:
            for box in boxes:
                group.start_soon(driver.attach, box, name, {})
        assert isolation_rules(name)
        for box in boxes:
            await driver.detach(box, NetworkAttachment(network=name, interface="eth0"))
        await driver.remove_network(name)
        assert isolation_rules(name) == []
    finally:
        for box in boxes:
            await remove_netns(Path(box.netns_path))
        await driver.gc(set())
        await driver.remove_network(name)


def isolation_rules(bridge: str) -> list[str]:
    """The firewall plugin's rules for ``bridge``, each as often as iptables holds it."""
    out = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    return sorted(r for r in out.splitlines() if "CNI-ISOLATION" in r and f" {bridge} " in r)
