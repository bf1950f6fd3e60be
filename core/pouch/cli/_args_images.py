"""Arguments of the image and registry commands."""

from __future__ import annotations

from pouch.cli._parser import command, flag_list, format_flag, group

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pouch.cli._parser import Sub

__all__ = ["define"]


def _define_registry(sub: Sub) -> None:
    pull = command(
        sub,
        "pull",
        "pouch.cli._registry:pull",
        "Download an image from a registry",
        "Shows a progress bar per layer on a terminal, plain lines otherwise.",
        (
            "pouch pull busybox",
            "pouch pull --platform linux/arm64 alpine:3.19",
            "pouch pull 127.0.0.1:5000/team/app:1.2",
        ),
    )
    pull.add_argument("--platform", metavar="OS/ARCH", help="platform to pull, e.g. linux/amd64")
    pull.add_argument("-q", "--quiet", action="store_true", help="print only the image name")
    pull.add_argument("-a", "--all-tags", action="store_true", help="pull every tag of the repo")
    pull.add_argument("image", metavar="NAME[:TAG|@DIGEST]", help="image reference")

    push = command(
        sub,
        "push",
        "pouch.cli._registry:push",
        "Upload an image to a registry",
        examples=("pouch push 127.0.0.1:5000/team/app:1.2",),
    )
    push.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    push.add_argument("image", metavar="NAME[:TAG]", help="image reference")

    login = command(
        sub,
        "login",
        "pouch.cli._registry:login",
        "Log in to a registry",
        "Checks the credentials with pouchd and keeps them in the client "
        "configuration (mode 0600). Prompts for what is not given.",
        (
            "pouch login 127.0.0.1:5000 -u admin",
            'echo "$TOKEN" | pouch login -u ci --password-stdin registry.example.com',
        ),
    )
    login.add_argument("-u", "--username", metavar="NAME", help="user name")
    login.add_argument(
        "-p", "--password", metavar="PASSWORD", help="password (insecure: prefer --password-stdin)"
    )
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.add_argument("server", nargs="?", metavar="SERVER", help="registry (default docker.io)")

    logout = command(
        sub,
        "logout",
        "pouch.cli._registry:logout",
        "Forget the credentials of a registry",
        examples=("pouch logout 127.0.0.1:5000",),
    )
    logout.add_argument("server", nargs="?", metavar="SERVER", help="registry (default docker.io)")


def _define_local(sub: Sub) -> None:
    images = command(
        sub,
        "images",
        "pouch.cli._images:images",
        "List images",
        examples=(
            "pouch images",
            "pouch images -q",
            "pouch images --digests busybox",
            "pouch images --format '{{.Repository}}:{{.Tag}} {{.Size}}'",
        ),
    )
    images.add_argument("-a", "--all", action="store_true", help="include intermediate images")
    images.add_argument("-q", "--quiet", action="store_true", help="print image IDs only")
    images.add_argument("--digests", action="store_true", help="show digests")
    images.add_argument("--no-trunc", action="store_true", help="do not shorten IDs")
    flag_list(
        images,
        "-f",
        "--filter",
        metavar="KEY=VALUE",
        help="only images that match: dangling=true|false, label, reference, before, since",
    )
    format_flag(
        images,
        "{{.Repository}}\\t{{.Tag}}\\t{{.ID}} (fields: Repository, Tag, "
        "Digest, ID, CreatedSince, CreatedAt, Size)",
    )
    images.add_argument(
        "repository", nargs="?", metavar="REPOSITORY[:TAG]", help="only images of this repository"
    )

    rmi = command(
        sub,
        "rmi",
        "pouch.cli._images:rmi",
        "Remove images",
        examples=("pouch rmi busybox", "pouch rmi -f 3f57d9401f8d"),
    )
    rmi.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="remove even if tagged more than once or used by a stopped container",
    )
    rmi.add_argument("--no-prune", action="store_true", help="keep untagged parents")
    rmi.add_argument("images", nargs="+", metavar="IMAGE", help="name or ID")

    tag = command(
        sub,
        "tag",
        "pouch.cli._images:tag",
        "Give an image another name",
        examples=("pouch tag busybox 127.0.0.1:5000/busybox:1",),
    )
    tag.add_argument("source", metavar="SOURCE[:TAG]", help="existing image")
    tag.add_argument("target", metavar="TARGET[:TAG]", help="new name")

    load = command(
        sub,
        "load",
        "pouch.cli._images:load",
        "Load images from a tar archive (docker save or OCI layout)",
        examples=("pouch load -i busybox.tar", "gzip -dc app.tar.gz | pouch load"),
    )
    load.add_argument("-i", "--input", metavar="FILE", help="read FILE instead of stdin")
    load.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    save = command(
        sub,
        "save",
        "pouch.cli._images:save",
        "Write images to a tar archive",
        "Writes to stdout unless -o is given; refuses to write to a terminal.",
        ("pouch save -o busybox.tar busybox", "pouch save app:1 | gzip > app.tgz"),
    )
    save.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    save.add_argument("images", nargs="+", metavar="IMAGE", help="name or ID")

    imp = command(
        sub,
        "import",
        "pouch.cli._images:import_",
        "Create an image from a root filesystem tarball",
        examples=(
            "pouch import rootfs.tar myimage:1",
            "tar -C rootfs -c . | pouch import - myimage",
        ),
    )
    flag_list(
        imp,
        "-c",
        "--change",
        metavar="INSTRUCTION",
        help="Dockerfile instruction to apply (CMD, ENV, WORKDIR, ...)",
    )
    imp.add_argument("-m", "--message", metavar="TEXT", help="commit message")
    imp.add_argument("--platform", metavar="OS/ARCH", help="platform of the image")
    imp.add_argument("source", metavar="FILE|URL|-", help="tarball path, URL, or - for stdin")
    imp.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]", help="name to give it")


def _define_build(sub: Sub) -> None:
    build = command(
        sub,
        "build",
        "pouch.cli._build:build",
        "Build an image from a Dockerfile",
        "Sends the context directory to pouchd, whose image builder (the pouch-build"
        " plugin) runs each step in a container and stores the result.",
        (
            "pouch build -t app:1 .",
            "pouch build -f docker/Dockerfile --build-arg VERSION=2 -t app .",
            "pouch build --target builder -t app-build .",
        ),
    )
    build.add_argument("context", metavar="PATH", help="the build context directory")
    flag_list(build, "-t", "--tag", metavar="NAME[:TAG]", help="name the image; repeatable")
    build.add_argument(
        "-f", "--file", metavar="FILE", help="the Dockerfile (default PATH/Dockerfile; - for stdin)"
    )
    flag_list(build, "--build-arg", metavar="NAME[=VALUE]", help="set a build-time variable")
    flag_list(build, "--label", metavar="KEY=VALUE", help="add a label to the image")
    build.add_argument("--target", metavar="STAGE", help="build up to this stage")
    build.add_argument("--no-cache", action="store_true", help="run every step again")
    build.add_argument("--pull", action="store_true", help="pull every FROM image again")
    build.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    build.add_argument("--iidfile", metavar="FILE", help="write the image ID to FILE")
    build.add_argument(
        "--network", metavar="MODE", help="network of RUN steps: default, none or host"
    )
    build.add_argument("--platform", metavar="OS/ARCH", help="platform of the image")


def _define_builder(sub: Sub) -> None:
    builder = group(sub, "builder", "Manage the image builder")
    prune = command(
        builder,
        "prune",
        "pouch.cli._build:builder_prune",
        "Remove the build cache",
        "Forgets every cached build step; the images only the cache kept are removed.",
        ("pouch builder prune -f",),
    )
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")


def define(sub: Sub) -> None:
    _define_registry(sub)
    _define_local(sub)
    _define_build(sub)
    _define_builder(sub)
