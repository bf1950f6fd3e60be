"""Arguments of network, volume, system, plugin, info, version and events."""

from __future__ import annotations

from pouch.cli._parser import PRUNE_FILTER_HELP, command, flag_list, format_flag, group

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from pouch.cli._parser import Sub

__all__ = ["define"]


def _quiet_filter_format(p: argparse.ArgumentParser, what: str, fields: str) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help=f"print {what} names only")
    flag_list(p, "-f", "--filter", metavar="KEY=VALUE", help="only those that match; repeatable")
    format_flag(p, fields)


def _define_network(sub: Sub) -> None:
    net = group(
        sub,
        "network",
        "Manage networks",
        "Networks come from network driver plugins (pouch plugin ls).",
    )
    ls = command(net, "ls", "pouch.cli._objects:network_ls", "List networks", aliases=["list"])
    _quiet_filter_format(ls, "network", "{{.Name}}\\t{{.Driver}} (fields: ID, Name, Driver, Scope)")
    create = command(
        net,
        "create",
        "pouch.cli._objects:network_create",
        "Create a network",
        examples=("pouch network create -d bridge --subnet 10.88.5.0/24 backend",),
    )
    create.add_argument(
        "-d", "--driver", default="bridge", metavar="DRIVER", help="network driver (default bridge)"
    )
    create.add_argument("--subnet", action="append", default=[], metavar="CIDR", help="subnet")
    create.add_argument("--gateway", action="append", default=[], metavar="IP", help="gateway")
    create.add_argument(
        "--ip-range",
        action="append",
        default=[],
        metavar="CIDR",
        help="allocate container addresses from this range",
    )
    create.add_argument("--internal", action="store_true", help="no access to the outside")
    create.add_argument("--ipv6", action="store_true", help="enable IPv6")
    flag_list(create, "-o", "--opt", metavar="KEY=VALUE", help="driver option")
    flag_list(create, "--label", metavar="KEY=VALUE", help="set a label")
    create.add_argument("name", metavar="NAME", help="network name")
    rm = command(net, "rm", "pouch.cli._objects:network_rm", "Remove networks", aliases=["remove"])
    rm.add_argument("names", nargs="+", metavar="NETWORK", help="name or ID")
    inspect = command(net, "inspect", "pouch.cli._objects:network_inspect", "Show networks")
    inspect.add_argument("-f", "--format", metavar="TEMPLATE", help="template per network")
    inspect.add_argument("names", nargs="+", metavar="NETWORK", help="name or ID")
    for verb in ("connect", "disconnect"):
        p = command(
            net,
            verb,
            f"pouch.cli._objects:network_{verb}",
            f"{verb.capitalize()} a container {'to' if verb == 'connect' else 'from'} a network",
            examples=(f"pouch network {verb} backend web",),
        )
        if verb == "connect":
            p.add_argument("--ip", metavar="IP", help="IPv4 address for the container")
            p.add_argument("--ip6", metavar="IP", help="IPv6 address for the container")
            flag_list(p, "--alias", metavar="NAME", help="extra DNS name on this network")
        else:
            p.add_argument("-f", "--force", action="store_true", help="force the disconnection")
        p.add_argument("network", metavar="NETWORK", help="name or ID")
        p.add_argument("container", metavar="CONTAINER", help="name or ID")
    prune = command(
        net,
        "prune",
        "pouch.cli._prune:network_prune",
        "Remove unused networks",
        examples=("pouch network prune -f", "pouch network prune --filter until=24h"),
    )
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    flag_list(prune, "--filter", metavar="KEY=VALUE", help=PRUNE_FILTER_HELP)


def _define_volume(sub: Sub) -> None:
    vol = group(sub, "volume", "Manage volumes")
    ls = command(vol, "ls", "pouch.cli._objects:volume_ls", "List volumes", aliases=["list"])
    _quiet_filter_format(
        ls, "volume", "{{.Name}}\\t{{.Driver}} (fields: Name, Driver, Mountpoint, Labels, Scope)"
    )
    create = command(
        vol,
        "create",
        "pouch.cli._objects:volume_create",
        "Create a volume",
        examples=(
            "pouch volume create data",
            "pouch volume create -d csi -o driver=hostdir -o size=1GiB fast",
        ),
    )
    create.add_argument(
        "-d", "--driver", default="local", metavar="DRIVER", help="volume driver (default local)"
    )
    flag_list(create, "-o", "--opt", metavar="KEY=VALUE", help="driver option")
    flag_list(create, "--label", metavar="KEY=VALUE", help="set a label")
    create.add_argument("name", nargs="?", metavar="NAME", help="volume name (default: generated)")
    update = command(
        vol,
        "update",
        "pouch.cli._objects:volume_update",
        "Change a volume's options (where its driver can: a CSI volume's size)",
        examples=("pouch volume update --opt size=2GiB fast",),
    )
    flag_list(update, "-o", "--opt", metavar="KEY=VALUE", help="option to change")
    update.add_argument("name", metavar="VOLUME", help="volume name")
    rm = command(vol, "rm", "pouch.cli._objects:volume_rm", "Remove volumes", aliases=["remove"])
    rm.add_argument("-f", "--force", action="store_true", help="remove even if in use")
    rm.add_argument("names", nargs="+", metavar="VOLUME", help="volume name")
    inspect = command(vol, "inspect", "pouch.cli._objects:volume_inspect", "Show volumes")
    inspect.add_argument("-f", "--format", metavar="TEMPLATE", help="template per volume")
    inspect.add_argument("names", nargs="+", metavar="VOLUME", help="volume name")
    prune = command(
        vol,
        "prune",
        "pouch.cli._prune:volume_prune",
        "Remove volumes no container uses",
        "Without -a: the anonymous volumes (those a container's '-v /path' made).\n"
        "With -a: named volumes too.",
        ("pouch volume prune -f", "pouch volume prune -a --filter label!=keep"),
    )
    prune.add_argument(
        "-a", "--all", action="store_true", help="named volumes too, not only anonymous ones"
    )
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    flag_list(
        prune,
        "--filter",
        metavar="KEY=VALUE",
        help="only volumes that match: label=KEY[=VALUE], label!=KEY[=VALUE]; repeatable",
    )


def _define_system(sub: Sub) -> None:
    system = group(sub, "system", "Manage pouchd as a whole")
    prune = command(
        system,
        "prune",
        "pouch.cli._system:system_prune",
        "Remove stopped containers, unused networks and dangling images",
        examples=("pouch system prune -f", "pouch system prune -a --volumes"),
    )
    prune.add_argument("-a", "--all", action="store_true", help="every unused image too")
    prune.add_argument("--volumes", action="store_true", help="unused volumes too")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    flag_list(prune, "--filter", metavar="KEY=VALUE", help=PRUNE_FILTER_HELP)
    df = command(
        system,
        "df",
        "pouch.cli._files:system_df",
        "Show disk usage",
        examples=("pouch system df", "pouch system df -v"),
    )
    df.add_argument("-v", "--verbose", action="store_true", help="every image, container, volume")
    info = command(system, "info", "pouch.cli._system:info", "Show system-wide information")
    info.add_argument("-f", "--format", metavar="TEMPLATE", help="template for the /info object")

    plugin = group(sub, "plugin", "Show the engine's plugins")
    ls = command(
        plugin,
        "ls",
        "pouch.cli._system:plugin_ls",
        "List plugins the engine found: loaded, skipped (and why) or failed",
        aliases=["list"],
    )
    ls.add_argument("-q", "--quiet", action="store_true", help="print plugin names only")
    format_flag(ls, "{{.Name}}\\t{{.State}} (fields: Name, State, Reason, Provides, Details)")


def define(sub: Sub) -> None:
    _define_network(sub)
    _define_volume(sub)
    _define_system(sub)
    info = command(
        sub,
        "info",
        "pouch.cli._system:info",
        "Show system-wide information",
        examples=("pouch info", "pouch info -f '{{.ServerVersion}}'"),
    )
    info.add_argument("-f", "--format", metavar="TEMPLATE", help="template for the /info object")
    version = command(
        sub, "version", "pouch.cli._system:version", "Show the client's and pouchd's versions"
    )
    version.add_argument(
        "-f",
        "--format",
        metavar="TEMPLATE",
        help="template, e.g. '{{.Server.Version}}' or '{{json .}}'",
    )
    events = command(
        sub,
        "events",
        "pouch.cli._system:events",
        "Stream events from pouchd",
        "Until interrupted, or until --until has passed.",
        (
            "pouch events",
            "pouch events --since 1h --until 0s",
            "pouch events -f type=container -f event=die --format '{{.Actor.ID}}'",
        ),
    )
    events.add_argument("--since", metavar="TIME", help="events since TIME (RFC 3339 or 10m)")
    events.add_argument("--until", metavar="TIME", help="stop at TIME (RFC 3339 or 10m)")
    flag_list(
        events,
        "-f",
        "--filter",
        metavar="KEY=VALUE",
        help="only matching events: type, event, container, image, label, ...",
    )
    events.add_argument(
        "--format",
        metavar="TEMPLATE",
        help="template per event ({{.Type}}, {{.Action}}, {{.Actor.ID}}) or json",
    )
