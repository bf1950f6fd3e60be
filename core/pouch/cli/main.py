"""``pouch``'s entry point: parse, connect lazily, run one command, map errors to exit codes.

A command pouch does not have, ``pouch NAME ARGS``, runs the program
``pouch-NAME ARGS`` from PATH when there is one (a plugin's commands: ``pouch
csi`` is ``pouch-csi``), with ``$POUCH_HOST`` set from ``-H``, as docker runs
its CLI plugins.

Exit status: what the command returns (a container's or exec's status for
``run``, ``start -a``, ``exec``, ``attach``, ``wait``); 1 for an error; 125 for
a usage error, or for any pouch/pouchd failure in ``run``; 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import sys

from pouch.cli._errors import CLIError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from pouch.cli._http import Client

__all__ = ["CLIError", "config_dir", "main", "make_client", "program"]

VERSION = "0.1.0"


def config_dir(args: argparse.Namespace) -> str:
    """The client configuration directory: ``--config``, ``$POUCH_CONFIG`` or ``~/.pouch``."""
    return str(
        getattr(args, "config", None)
        or os.environ.get("POUCH_CONFIG")
        or os.path.join(os.path.expanduser("~"), ".pouch")
    )


def make_client(args: argparse.Namespace) -> Client:
    """A client for ``-H``/``$POUCH_HOST``, with TLS when asked; connects on first request."""
    from pouch.cli._http import DEFAULT_HOST, Client, Endpoint, TLSOptions

    endpoint = Endpoint.parse(args.host or os.environ.get("POUCH_HOST") or DEFAULT_HOST)
    tls = None
    if args.tls or args.tlsverify:
        if endpoint.scheme != "tcp":
            raise CLIError("--tls and --tlsverify apply to tcp:// hosts only")
        certs = os.environ.get("POUCH_CERT_PATH") or config_dir(args)

        def pick(given: str | None, name: str) -> str | None:
            path = given or os.path.join(certs, name)
            return path if given or os.path.exists(path) else None

        tls = TLSOptions(
            verify=bool(args.tlsverify),
            cacert=pick(args.tlscacert, "ca.pem"),
            cert=pick(args.tlscert, "cert.pem"),
            key=pick(args.tlskey, "key.pem"),
        )
    return Client(endpoint, tls)


def _handler(name: str) -> Callable[[argparse.Namespace, Client], int]:
    module, _, function = name.partition(":")
    handler: Callable[[argparse.Namespace, Client], int] = getattr(
        __import__(module, fromlist=[function]), function
    )
    return handler


def _run(argv: Sequence[str]) -> int:
    if list(argv) in (["--version"], ["-v"]):
        sys.stdout.write(f"pouch version {VERSION}\n")
        return 0
    from pouch.cli._parser import builtin, command_words

    word, then = command_words(argv)
    if word is not None and not builtin(word):
        _run_external(word, argv)  # returns only when there is no pouch-WORD
    args = _parse(argv, word, then)
    if args.version:
        sys.stdout.write(f"pouch version {VERSION}\n")
        return 0
    handler_name = getattr(args, "handler", None)
    if handler_name is None:
        (getattr(args, "group_parser", None) or _parser(word, then)).print_help()
        return 0
    return _handler(handler_name)(args, make_client(args))


def _parse(argv: Sequence[str], word: str | None, then: str | None) -> argparse.Namespace:
    """The command line parsed: by ``pouch.cli._fastparse`` when it can, else by argparse
    (for help, usage errors and whatever the fast parser leaves to it)."""
    if word is not None:
        from pouch.cli._fastparse import Spec, parse
        from pouch.cli._parser import define

        spec = Spec("pouch")
        define(spec, only=word, then=then)  # type: ignore[arg-type]
        fast = parse(spec, argv)
        if fast is not None:
            return fast  # type: ignore[return-value]
    args, extra = _parser(word, then).parse_known_args(argv)
    if extra:
        prog = getattr(args, "command_prog", "pouch")
        raise UsageError(f"unknown flag or argument: {' '.join(extra)}\nSee '{prog} --help'.")
    return args


def _parser(word: str | None, then: str | None) -> argparse.ArgumentParser:
    from pouch.cli._parser import build_parser

    return build_parser(only=word, then=then, subcommands=word is not None)


def _run_external(word: str, argv: Sequence[str]) -> None:
    """``exec`` ``pouch-WORD`` with the arguments after ``WORD``, when it is on PATH."""
    import shutil

    program = shutil.which(f"pouch-{word}")
    if program is None:
        return
    index = list(argv).index(word)
    before, after = list(argv[:index]), list(argv[index + 1 :])
    for flag in ("-H", "--host"):
        if flag in before and before.index(flag) + 1 < len(before):
            os.environ["POUCH_HOST"] = before[before.index(flag) + 1]
    sys.stdout.flush()
    os.execv(program, [program, *after])


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pouch`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "-D" in argv or "--debug" in argv
    try:
        return _run(argv)
    except CLIError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"Error: {exc.message}\n")
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`pouch logs x | head`): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(
            f"Error: unexpected {type(exc).__name__}: {exc} (run with -D for a traceback)\n"
        )
        return 1


def program() -> None:
    """The ``pouch`` program: ``main``, then exit without the interpreter's teardown.

    Everything is written and closed by then; unwinding the modules, the
    objects and the sockets a command made only costs its user time.
    """
    status = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        status = status or 141
    os._exit(status)


if __name__ == "__main__":
    program()
