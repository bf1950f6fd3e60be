"""Arguments of the container commands other than run/create/start."""

from __future__ import annotations

from pouch.cli._args_groups import define_inspect
from pouch.cli._parser import REMAINDER, command, flag_list, format_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from pouch.cli._parser import Sub

__all__ = ["define"]

PS_FIELDS = "{{.ID}}\\t{{.Names}}\\t{{.Image}}\\t{{.Status}}"
FILTER_HELP = (
    "only containers that match: id, name, label (key or key=value), status "
    "(created, running, paused, exited, ...), ancestor, exited, "
    "health (starting, healthy, unhealthy, none); repeatable"
)


def _targets(p: argparse.ArgumentParser, what: str = "container") -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER", help=f"{what} name or ID")


def _define_lifecycle(sub: Sub) -> None:
    stop = command(
        sub,
        "stop",
        "pouch.cli._containers:stop",
        "Stop running containers",
        "Sends the stop signal, then SIGKILL after the grace period.",
        ("pouch stop web", "pouch stop -t 30 db"),
    )
    stop.add_argument(
        "-t",
        "--time",
        type=int,
        metavar="SECONDS",
        help="seconds to wait before killing (default: the container's)",
    )
    stop.add_argument("-s", "--signal", metavar="SIGNAL", help="signal to send first")
    _targets(stop)

    restart = command(
        sub,
        "restart",
        "pouch.cli._containers:restart",
        "Restart containers",
        examples=("pouch restart web",),
    )
    restart.add_argument(
        "-t",
        "--time",
        type=int,
        metavar="SECONDS",
        help="seconds to wait for the stop before killing",
    )
    _targets(restart)

    kill = command(
        sub,
        "kill",
        "pouch.cli._containers:kill",
        "Send a signal to containers",
        examples=("pouch kill web", "pouch kill -s HUP web"),
    )
    kill.add_argument(
        "-s",
        "--signal",
        default="KILL",
        metavar="SIGNAL",
        help="signal name or number (default KILL)",
    )
    _targets(kill)

    rm = command(
        sub,
        "rm",
        "pouch.cli._containers:rm",
        "Remove containers",
        examples=("pouch rm job", "pouch rm -f web"),
    )
    rm.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    rm.add_argument(
        "-v", "--volumes", action="store_true", help="remove the container's anonymous volumes too"
    )
    _targets(rm)

    for name, summary in (
        ("pause", "Freeze all processes of containers"),
        ("unpause", "Thaw paused containers"),
    ):
        p = command(
            sub, name, f"pouch.cli._containers:{name}", summary, examples=(f"pouch {name} web",)
        )
        _targets(p)

    rename = command(
        sub,
        "rename",
        "pouch.cli._containers:rename",
        "Rename a container",
        examples=("pouch rename web web-old",),
    )
    rename.add_argument("container", metavar="CONTAINER", help="current name or ID")
    rename.add_argument("new_name", metavar="NEW_NAME", help="new name")

    update = command(
        sub,
        "update",
        "pouch.cli._containers:update",
        "Change the resource limits or restart policy of containers",
        examples=(
            "pouch update --memory 1g --cpus 2 web",
            "pouch update --restart on-failure:3 job",
        ),
    )
    update.add_argument("-m", "--memory", metavar="SIZE", help="memory limit, e.g. 512m")
    update.add_argument("--memory-swap", metavar="SIZE", help="memory plus swap (-1: unlimited)")
    update.add_argument("--cpus", metavar="N", help="CPUs the container may use")
    update.add_argument("-c", "--cpu-shares", type=int, metavar="N", help="relative CPU weight")
    update.add_argument("--cpuset-cpus", metavar="LIST", help="CPUs to run on, e.g. 0-2")
    update.add_argument("--pids-limit", type=int, metavar="N", help="most processes (-1: none)")
    update.add_argument(
        "--restart", metavar="POLICY", help="no, always, unless-stopped, on-failure[:N]"
    )
    _targets(update)

    wait = command(
        sub,
        "wait",
        "pouch.cli._containers:wait",
        "Wait for containers to stop, then print their exit codes",
        examples=("pouch wait job",),
    )
    _targets(wait)


def _define_views(sub: Sub) -> None:
    ps = command(
        sub,
        "ps",
        "pouch.cli._containers:ps",
        "List containers",
        "Running containers by default; -a shows all.",
        (
            "pouch ps -a",
            "pouch ps -q --filter status=exited",
            "pouch ps --format 'table {{.Names}}\\t{{.Status}}\\t{{.Ports}}'",
            "pouch ps --format json",
        ),
    )
    ps.add_argument("-a", "--all", action="store_true", help="show stopped containers too")
    ps.add_argument("-q", "--quiet", action="store_true", help="print container IDs only")
    ps.add_argument("--no-trunc", action="store_true", help="do not shorten IDs and commands")
    ps.add_argument("-n", "--last", type=int, metavar="N", help="the N most recently created")
    ps.add_argument("-l", "--latest", action="store_true", help="the latest created container")
    flag_list(ps, "-f", "--filter", metavar="KEY=VALUE", help=FILTER_HELP)
    format_flag(
        ps,
        PS_FIELDS + " (fields: ID, Names, Image, Command, CreatedAt, RunningFor, "
        'Status, State, Ports, Labels, Label "key", Mounts, Networks)',
    )

    logs = command(
        sub,
        "logs",
        "pouch.cli._io:logs",
        "Show a container's output",
        examples=("pouch logs web", "pouch logs -f --tail 10 web", "pouch logs --since 10m -t web"),
    )
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
    logs.add_argument(
        "-n", "--tail", default="all", metavar="N", help="only the last N lines (default all)"
    )
    logs.add_argument(
        "--since",
        metavar="TIME",
        help="only since TIME: RFC 3339 (2024-05-01T10:00:00Z), relative (10m, 1h30m) "
        "or a Unix timestamp",
    )
    logs.add_argument("--until", metavar="TIME", help="only before TIME (as --since)")
    logs.add_argument("-t", "--timestamps", action="store_true", help="prefix each line's time")
    logs.add_argument("container", metavar="CONTAINER", help="name or ID")

    top = command(
        sub,
        "top",
        "pouch.cli._containers:top",
        "Show a container's processes",
        examples=("pouch top web", "pouch top web -o pid,comm"),
    )
    top.add_argument("container", metavar="CONTAINER", help="name or ID")
    top.add_argument(
        "ps_args",
        nargs=REMAINDER,
        metavar="PS_OPTIONS",
        help="options for ps (default -ef)",
    )

    stats = command(
        sub,
        "stats",
        "pouch.cli._stats:stats",
        "Show containers' CPU, memory, network, block I/O and PIDs",
        "Streams until interrupted; --no-stream prints one snapshot. "
        "Without CONTAINER: every running container.",
        (
            "pouch stats",
            "pouch stats --no-stream web",
            "pouch stats --no-stream --format '{{.Name}} {{.MemUsage}}'",
        ),
    )
    stats.add_argument("-a", "--all", action="store_true", help="include stopped containers")
    stats.add_argument("--no-stream", action="store_true", help="print one snapshot and exit")
    stats.add_argument("--no-trunc", action="store_true", help="do not shorten IDs")
    format_flag(
        stats,
        "{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}} (fields: ID, Name, "
        "CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs)",
    )
    stats.add_argument("containers", nargs="*", metavar="CONTAINER", help="name or ID")

    define_inspect(sub)


def define(sub: Sub) -> None:
    _define_lifecycle(sub)
    _define_views(sub)
