"""Arguments of ``image`` and ``container`` (docker's management commands), and of
``inspect`` in its three forms.

Their subcommands are the top-level commands under the names docker gives
them (``image ls`` is ``images``, ``container rm`` is ``rm``), added by the
tables that define those commands, with the same flags and handlers. Only
``inspect`` (of one kind of object) and ``prune`` are their own.
"""

from __future__ import annotations

from pouch.cli._parser import PRUNE_FILTER_HELP, add_renamed, command, flag_list, group

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pouch.cli._parser import Sub

__all__ = ["CONTAINER_NAMES", "IMAGE_NAMES", "define", "define_inspect"]

_SAME = ("pull", "push", "tag", "history", "save", "load", "import", "build")
IMAGE_NAMES = {"images": ("ls", "list"), "rmi": ("rm", "remove"), **{n: (n,) for n in _SAME}}

_KEPT = (
    *("run", "create", "start", "stop", "restart", "kill", "pause", "unpause", "rename"),
    *("update", "wait", "logs", "top", "stats", "exec", "attach", "cp", "diff", "export"),
    "commit",
)
CONTAINER_NAMES = {"ps": ("ls", "list", "ps"), "rm": ("rm", "remove"), **{n: (n,) for n in _KEPT}}


_INSPECT_EXAMPLES = {
    None: (
        "pouch inspect web",
        "pouch inspect -f '{{.State.ExitCode}}' job",
        "pouch inspect --type image -f '{{json .Config.Env}}' busybox",
    ),
    "container": (
        "pouch container inspect web",
        "pouch container inspect -s -f '{{.State.ExitCode}} {{.SizeRw}}' job",
    ),
    "image": (
        "pouch image inspect busybox",
        "pouch image inspect -f '{{json .Config.Env}}' busybox",
    ),
}


def define_inspect(sub: Sub, kind: str | None = None) -> None:
    """``inspect``; with ``kind``, a group's ``inspect`` that looks for that kind only."""
    what = f"{kind}s" if kind else "containers, images, networks or volumes"
    inspect = command(
        sub,
        "inspect",
        "pouch.cli._inspect:inspect",
        f"Show low-level details of {what}",
        "Prints a JSON array, or one line per object with --format.",
        _INSPECT_EXAMPLES[kind],
    )
    inspect.add_argument(
        "-f",
        "--format",
        metavar="TEMPLATE",
        help="template for each object, e.g. '{{.State.Status}}' or "
        "'{{json .Config}}' (a small subset of Go templates)",
    )
    if kind is None:
        inspect.add_argument(
            "--type",
            choices=("container", "image", "network", "volume"),
            help="only look for this kind of object",
        )
    inspect.set_defaults(type=kind, size=False)
    if kind in (None, "container"):
        inspect.add_argument("-s", "--size", action="store_true", help="include container sizes")
    inspect.add_argument("names", nargs="+", metavar="NAME", help="name or ID")


def _define_image(sub: Sub) -> None:
    image = group(
        sub,
        "image",
        "Manage images",
        "Manage images. The image commands under one name, as docker has them:\n"
        "'pouch image ls' is 'pouch images', 'pouch image rm' is 'pouch rmi'.",
    )
    add_renamed(image, IMAGE_NAMES)
    define_inspect(image, "image")
    prune = command(
        image,
        "prune",
        "pouch.cli._prune:image_prune",
        "Remove unused images",
        "Without -a: the dangling images (those with no name left) no container uses.\n"
        "With -a: every image no container, running or stopped, was created from.\n"
        "Then the layers and blobs no image needs any more go too.",
        (
            "pouch image prune -f",
            "pouch image prune -a",
            "pouch image prune -a --filter until=24h --filter label!=keep",
        ),
    )
    prune.add_argument(
        "-a", "--all", action="store_true", help="every unused image, not only dangling ones"
    )
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    flag_list(prune, "--filter", metavar="KEY=VALUE", help=PRUNE_FILTER_HELP)


def _define_container(sub: Sub) -> None:
    container = group(
        sub,
        "container",
        "Manage containers",
        "Manage containers. The container commands under one name, as docker has\n"
        "them: 'pouch container ls' is 'pouch ps', 'pouch container rm' is 'pouch rm'.",
    )
    add_renamed(container, CONTAINER_NAMES)
    define_inspect(container, "container")
    prune = command(
        container,
        "prune",
        "pouch.cli._prune:container_prune",
        "Remove stopped containers",
        "Running and paused containers stay.",
        ("pouch container prune -f", "pouch container prune --filter until=24h"),
    )
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    flag_list(prune, "--filter", metavar="KEY=VALUE", help=PRUNE_FILTER_HELP)


def define(sub: Sub) -> None:
    _define_image(sub)
    _define_container(sub)
