"""Arguments of the commands that attach: ``run``, ``create``, ``start``, ``exec``, ``attach``."""

from __future__ import annotations

from pouch.cli._parser import REMAINDER, command, flag_list

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from pouch.cli._argparse import Parser
    from pouch.cli._parser import Sub

__all__ = ["container_flags", "define"]

RUN_DESCRIPTION = """\
Create a container from IMAGE and start it. Without -d the terminal is attached:
output is shown, and pouch exits with the container's exit status (125 when
pouch or pouchd fails, 126/127 when COMMAND cannot be run). With -d it prints
the container ID and leaves the container running. With -it you get an
interactive terminal; Ctrl-P Ctrl-Q (see --detach-keys) detaches from it and
leaves the container running. The image is pulled when missing (see --pull)."""


def container_flags(p: argparse.ArgumentParser) -> None:
    """The flags ``run`` and ``create`` share: everything that configures a container."""
    p.add_argument("--help", action="help", help="show this help and exit")
    p.add_argument("--name", help="name the container (default: a generated name)")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open and attach it")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument(
        "--rm", action="store_true", help="remove the container (and its anonymous volumes) on exit"
    )
    flag_list(
        p,
        "-e",
        "--env",
        metavar="NAME[=VALUE]",
        help="set an environment variable; NAME alone copies it from this shell",
    )
    flag_list(
        p,
        "--env-file",
        metavar="FILE",
        help="read NAME=VALUE lines from FILE (# comments and blank lines skipped)",
    )
    flag_list(
        p,
        "-v",
        "--volume",
        metavar="SRC:DST[:MODE]",
        help="bind-mount a host path or mount a named volume at DST; MODE: ro, rw, "
        "z, Z, propagation (e.g. -v /srv/data:/data:ro, -v cache:/cache); "
        "-v /dst alone makes an anonymous volume",
    )
    flag_list(
        p,
        "-p",
        "--publish",
        metavar="[IP:]HOST:CONTAINER[/PROTO]",
        help="publish a container port on the host (e.g. -p 8080:80, "
        "-p 127.0.0.1:5353:53/udp, -p 80 for a port the daemon picks)",
    )
    p.add_argument(
        "-P",
        "--publish-all",
        action="store_true",
        help="publish every exposed port (the image's EXPOSE and --expose) on a free host port",
    )
    flag_list(
        p,
        "--expose",
        metavar="PORT[/PROTO]",
        help="expose a port (or a range) without publishing it; -P publishes it",
    )
    p.add_argument(
        "--network", "--net", metavar="NAME", help="network to join: a network name, host or none"
    )
    flag_list(
        p,
        "--network-alias",
        metavar="NAME",
        help="another name the container is found by on its (user-defined) network",
    )
    p.add_argument("--ip", metavar="IPV4", help="fixed IPv4 address on the network")
    p.add_argument("--ip6", metavar="IPV6", help="fixed IPv6 address on the network")
    p.add_argument("--mac-address", metavar="MAC", help="fixed MAC address, e.g. 02:42:ac:11:00:02")
    p.add_argument("--runtime", metavar="NAME", help="runtime to use (runc, crun, lxc, kata, ...)")
    p.add_argument("-m", "--memory", metavar="SIZE", help="memory limit, e.g. 256m, 1.5g")
    p.add_argument(
        "--memory-swap", metavar="SIZE", help="memory plus swap limit (-1: unlimited swap)"
    )
    p.add_argument("--cpus", metavar="N", help="CPUs the container may use, e.g. 0.5 or 2")
    p.add_argument("-c", "--cpu-shares", type=int, metavar="N", help="relative CPU weight")
    p.add_argument("--cpuset-cpus", metavar="LIST", help="CPUs to run on, e.g. 0-2,4")
    p.add_argument("--pids-limit", type=int, metavar="N", help="most processes (-1: unlimited)")
    p.add_argument(
        "--restart",
        metavar="POLICY",
        default="no",
        help="restart policy: no, always, unless-stopped, on-failure[:MAX_RETRIES]",
    )
    p.add_argument("-u", "--user", metavar="USER[:GROUP]", help="user (name or UID) to run as")
    p.add_argument("-w", "--workdir", metavar="DIR", help="working directory inside the container")
    p.add_argument(
        "--entrypoint", metavar="CMD", help="replace the image's entrypoint ('' clears it)"
    )
    p.add_argument("--read-only", action="store_true", help="mount the root filesystem read-only")
    flag_list(p, "--cap-add", metavar="CAP", help="add a Linux capability (e.g. NET_ADMIN)")
    flag_list(p, "--cap-drop", metavar="CAP", help="drop a Linux capability (ALL for every one)")
    p.add_argument(
        "--privileged",
        action="store_true",
        help="give the container every capability and every device",
    )
    p.add_argument(
        "--userns",
        choices=["host"],
        help="host: keep the container out of pouchd's --userns-remap",
    )
    flag_list(
        p,
        "--storage-opt",
        metavar="size=SIZE",
        help="limit the container's writable layer, e.g. size=1g (needs project quota)",
    )
    flag_list(
        p,
        "--disk-quota",
        metavar="[/=]SIZE",
        help="PouchContainer's form of --storage-opt size: 10g, /=10g or .*=10g",
    )
    flag_list(
        p,
        "--security-opt",
        metavar="OPT",
        help="seccomp=unconfined, seccomp=PROFILE.json (Docker's format) or no-new-privileges",
    )
    p.add_argument("-h", "--hostname", metavar="NAME", help="the container's host name")
    flag_list(p, "-l", "--label", metavar="KEY=VALUE", help="set a label on the container")
    flag_list(
        p,
        "--tmpfs",
        metavar="DST[:OPTIONS]",
        help="mount a tmpfs at DST, e.g. --tmpfs /run:rw,size=64m",
    )
    flag_list(p, "--sysctl", metavar="KEY=VALUE", help="set a namespaced kernel parameter")
    flag_list(p, "--ulimit", metavar="NAME=SOFT[:HARD]", help="set a ulimit, e.g. nofile=1024")
    p.add_argument("--stop-signal", metavar="SIGNAL", help="signal that stops it (default SIGTERM)")
    p.add_argument(
        "--stop-timeout",
        type=int,
        metavar="SECONDS",
        help="seconds to wait after the stop signal before killing",
    )
    p.add_argument(
        "--init",
        action="store_true",
        help="run an init as PID 1 that forwards signals and reaps zombies",
    )
    p.add_argument(
        "--rich",
        action="store_true",
        help="a rich container: an init as PID 1 runs the image's services, as on a machine",
    )
    p.add_argument(
        "--rich-mode",
        choices=("dumb-init", "sbin-init", "systemd"),
        help="the rich container's init: dumb-init (default; a reaping init runs the command),"
        " sbin-init (the image's /sbin/init) or systemd (the image's systemd)",
    )
    p.add_argument(
        "--initscript",
        metavar="PATH",
        help="with --rich: a script in the container run before the init at every start;"
        " its failure fails the start",
    )
    p.add_argument(
        "--enable-lxcfs",
        action="store_true",
        help="show the container's own limits in /proc/meminfo, cpuinfo, uptime … (needs lxcfs)",
    )
    _sharing_flags(p)
    _health_flags(p)
    p.add_argument(
        "--log-driver",
        metavar="NAME",
        help="logging driver: json-file (default), local, or none (no logs to read back)",
    )
    flag_list(p, "--log-opt", metavar="KEY=VALUE", help="logging driver option, e.g. max-size=10m")
    p.add_argument("--platform", metavar="OS/ARCH", help="image platform, e.g. linux/arm64")
    p.add_argument(
        "--pull",
        choices=("missing", "always", "never"),
        default="missing",
        help="pull the image: when missing (default), always, or never",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not show pull progress")
    p.add_argument("image", metavar="IMAGE", help="image to run, e.g. busybox or repo/name:tag")
    p.add_argument(
        "command",
        metavar="COMMAND",
        nargs=REMAINDER,
        help="command and arguments (default: the image's)",
    )


def _sharing_flags(p: argparse.ArgumentParser) -> None:
    """Namespaces, devices and /etc files: what a container shares with the host or others."""
    p.add_argument("--pid", metavar="MODE", help="PID namespace: host or container:NAME")
    p.add_argument(
        "--ipc",
        metavar="MODE",
        help="IPC namespace: private (default), shareable, none, host or container:NAME",
    )
    p.add_argument("--uts", metavar="MODE", help="UTS namespace (hostname): host or container:NAME")
    p.add_argument(
        "--cgroupns", choices=("host", "private"), help="cgroup namespace: host or private"
    )
    flag_list(
        p,
        "--device",
        metavar="HOST[:CONTAINER][:PERMS]",
        help="add a host device, e.g. /dev/fuse or /dev/sdb:/dev/xvdb:r",
    )
    flag_list(
        p,
        "--device-cgroup-rule",
        metavar="RULE",
        help="allow device access in the cgroup, e.g. 'c 1:3 rwm' or 'b 8:* r'",
    )
    p.add_argument("--gpus", metavar="GPUS", help="GPUs to add (pouch has no GPU support)")
    p.add_argument("--shm-size", metavar="SIZE", help="size of /dev/shm, e.g. 256m (default 64m)")
    flag_list(p, "--group-add", metavar="GROUP", help="add a supplementary group (name or GID)")
    flag_list(
        p,
        "--add-host",
        metavar="NAME:IP",
        help="add a line to /etc/hosts; IP host-gateway is the host's address",
    )
    flag_list(p, "--dns", metavar="IP", help="name server for /etc/resolv.conf")
    flag_list(p, "--dns-search", metavar="DOMAIN", help="search domain for /etc/resolv.conf")
    flag_list(p, "--dns-option", metavar="OPT", help="resolver option, e.g. ndots:2")
    p.add_argument(
        "--memory-swappiness",
        type=int,
        metavar="0-100",
        help="how readily the container's memory is swapped (cgroup v1 only)",
    )
    flag_list(
        p,
        "--volumes-from",
        metavar="CONTAINER[:ro|:rw]",
        help="mount every volume and bind mount of another container",
    )
    flag_list(
        p,
        "--link",
        metavar="NAME[:ALIAS]",
        help="legacy link: ALIAS in /etc/hosts and NAME's address and variables in the env",
    )


def _health_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--health-cmd",
        metavar="CMD",
        help="command (run by /bin/sh -c in the container) that checks its health: "
        "exit 0 healthy, 1 unhealthy",
    )
    for name, what in (
        ("interval", "time between checks, e.g. 30s (default 30s)"),
        ("timeout", "longest a check may run before it counts as failed (default 30s)"),
        ("start-period", "time to start before failures count (default 0s)"),
        ("start-interval", "time between checks during the start period (default 5s)"),
    ):
        p.add_argument(f"--health-{name}", metavar="DURATION", help=what)
    p.add_argument(
        "--health-retries",
        type=int,
        metavar="N",
        help="consecutive failures that make it unhealthy (default 3)",
    )
    p.add_argument(
        "--no-healthcheck", action="store_true", help="disable any healthcheck the image has"
    )


def _detach_keys(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--detach-keys",
        metavar="KEYS",
        help="key sequence that detaches from the container "
        "(default ctrl-p,ctrl-q; a list of characters or ctrl-X)",
    )


def _define_io(sub: Sub) -> None:
    exec_ = command(
        sub,
        "exec",
        "pouch.cli._io:exec_",
        "Run a command in a running container",
        "Exits with the command's exit status.",
        (
            "pouch exec web cat /etc/hostname",
            "pouch exec -it web sh",
            "pouch exec -d -u nobody -e DEBUG=1 -w /tmp web touch x",
        ),
    )
    exec_.add_argument("-i", "--interactive", action="store_true", help="attach stdin")
    exec_.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    exec_.add_argument("-d", "--detach", action="store_true", help="run in the background")
    flag_list(exec_, "-e", "--env", metavar="NAME=VALUE", help="set an environment variable")
    exec_.add_argument("-u", "--user", metavar="USER[:GROUP]", help="user to run as")
    exec_.add_argument("-w", "--workdir", metavar="DIR", help="working directory")
    exec_.add_argument("--privileged", action="store_true", help="extended privileges")
    exec_.add_argument("--detach-keys", metavar="KEYS", help="detach sequence (ctrl-p,ctrl-q)")
    exec_.add_argument("container", metavar="CONTAINER", help="name or ID")
    exec_.add_argument("command", nargs=REMAINDER, metavar="COMMAND", help="command and arguments")

    attach = command(
        sub,
        "attach",
        "pouch.cli._io:attach",
        "Attach this terminal to a running container",
        "Shows its output and sends your input to it; Ctrl-P Ctrl-Q detaches "
        "and leaves it running. Exits with the container's status when it stops.",
        ("pouch attach web", "pouch attach --detach-keys ctrl-x,x web"),
    )
    attach.add_argument(
        "--detach-keys", metavar="KEYS", help="key sequence that detaches (default ctrl-p,ctrl-q)"
    )
    attach.add_argument("--no-stdin", action="store_true", help="do not attach stdin")
    attach.add_argument("container", metavar="CONTAINER", help="name or ID")


def define(sub: Sub) -> None:
    run: Parser = command(
        sub,
        "run",
        "pouch.cli._run:run",
        "Create and start a container",
        RUN_DESCRIPTION,
        (
            "pouch run --rm busybox echo hello",
            "pouch run -it busybox sh",
            "pouch run -d --name web -p 8080:80 --restart unless-stopped nginx",
            "pouch run --rm -v $PWD:/src:ro -w /src --memory 512m --cpus 1.5 alpine ls",
        ),
        add_help=False,
    )
    run.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="run in the background and print the container ID",
    )
    _detach_keys(run)
    container_flags(run)

    create: Parser = command(
        sub,
        "create",
        "pouch.cli._run:create",
        "Create a container without starting it",
        "Takes the flags of 'pouch run' (except -d); prints the new container's ID. "
        "Start it with 'pouch start'.",
        ("pouch create --name job busybox sh -c 'echo done'", "pouch start -a job"),
        add_help=False,
    )
    container_flags(create)

    start = command(
        sub,
        "start",
        "pouch.cli._run:start",
        "Start one or more stopped containers",
        "With -a, attach to the container's output and exit with its status; with -i "
        "also attach stdin.",
        ("pouch start web", "pouch start -ai job"),
    )
    start.add_argument(
        "-a",
        "--attach",
        action="store_true",
        help="attach stdout/stderr and wait for the container to exit",
    )
    start.add_argument("-i", "--interactive", action="store_true", help="attach stdin as well")
    _detach_keys(start)
    start.add_argument("containers", nargs="+", metavar="CONTAINER", help="name or ID")
    _define_io(sub)
