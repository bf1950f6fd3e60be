"""Arguments of cp, diff, export, commit and history: files in containers, images of them."""

from __future__ import annotations

from pouch.cli._parser import command, flag_list, format_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pouch.cli._parser import Sub

__all__ = ["define"]


def define(sub: Sub) -> None:
    cp = command(
        sub,
        "cp",
        "pouch.cli._files:cp",
        "Copy files between a container and the host",
        "One side is CONTAINER:PATH; '-' as the other reads or writes a tar stream. "
        "Works on stopped containers too.",
        (
            "pouch cp ./app.conf web:/etc/app/",
            "pouch cp web:/var/log/app.log .",
            "pouch cp web:/etc - | tar t",
        ),
    )
    cp.add_argument(
        "-a", "--archive", action="store_true", help="copy with the container user's IDs"
    )
    cp.add_argument("-L", "--follow-link", action="store_true", help="follow a symlink source")
    cp.add_argument("source", metavar="SRC", help="CONTAINER:PATH, a host path or -")
    cp.add_argument("dest", metavar="DEST", help="CONTAINER:PATH, a host path or -")

    diff = command(
        sub,
        "diff",
        "pouch.cli._files:diff",
        "Show what a container changed in its image's files",
        "A added, C changed, D deleted.",
        ("pouch diff web",),
    )
    diff.add_argument("container", metavar="CONTAINER", help="name or ID")

    export = command(
        sub,
        "export",
        "pouch.cli._files:export",
        "Write a container's root filesystem as a tar",
        examples=("pouch export -o web.tar web", "pouch export web | tar t"),
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")
    export.add_argument("container", metavar="CONTAINER", help="name or ID")

    commit = command(
        sub,
        "commit",
        "pouch.cli._files:commit",
        "Make an image of a container's changes",
        examples=("pouch commit -c 'CMD [\"app\"]' -m 'configured' web team/app:2",),
    )
    commit.add_argument("-a", "--author", metavar="NAME", help="author of the image")
    flag_list(commit, "-c", "--change", metavar="INSTRUCTION", help="a Dockerfile instruction")
    commit.add_argument("-m", "--message", metavar="TEXT", help="commit message")
    commit.add_argument(
        "-p",
        "--pause",
        default="true",
        choices=("true", "false"),
        help="pause the container meanwhile (default true)",
    )
    commit.add_argument("container", metavar="CONTAINER", help="name or ID")
    commit.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]", help="image name")

    history = command(
        sub,
        "history",
        "pouch.cli._files:history",
        "Show the history of an image",
        examples=("pouch history busybox", "pouch history --no-trunc -q team/app:2"),
    )
    history.add_argument(
        "-H",
        "--human",
        default="true",
        choices=("true", "false"),
        help="human sizes and dates (default true)",
    )
    history.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    history.add_argument("-q", "--quiet", action="store_true", help="print image IDs only")
    format_flag(
        history,
        "{{.ID}}\\t{{.CreatedBy}} (fields: ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment)",
    )
    history.add_argument("image", metavar="IMAGE", help="name or ID")
