"""Rich containers (PouchContainer's ``--rich``): an init as PID 1, as on a machine.

A rich container still is a container; only its PID 1 and what that init
needs change, on stock runtimes, through the spec:

- ``dumb-init`` (the default mode): the host's static ``tini`` (as for
  ``--init``) runs the command, reaps orphans and forwards signals.
- ``sbin-init``: the image's ``/sbin/init`` is PID 1 and starts the services
  the image defines (busybox or sysvinit's ``/etc/inittab``); a command the
  user gave runs as one more, started by a ``poststart`` hook. It may power
  off its PID namespace (``CAP_SYS_BOOT``, which reaches no further), which
  is how busybox's init ends after ``pouch stop`` sent SIGUSR2 (its
  "poweroff"; the image's STOPSIGNAL if it has one) and it ran the inittab's
  ``shutdown`` actions.
- ``systemd``: the image's systemd is PID 1 with what podman's
  ``--systemd=always`` gives it: tmpfs on /run, /run/lock, /tmp and
  /var/log/journal, the container's cgroup writable at /sys/fs/cgroup,
  ``container=pouch`` in the environment and SIGRTMIN+3 to stop it.
  ``/etc/machine-id`` is made from the container's ID.

``--initscript PATH`` runs a script of the container's before its init, at
every start: a ``createRuntime`` OCI hook (``python -m pouch.hookrun``) that
enters the container and runs it as the container's user; its failure fails
the start with the script's output. The runtime runs the hook itself (runc,
crun) or translates it (lxc).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pouch import oci
from pouch.builtins.init import with_init
from pouch.errors import InvalidArgument
from pouch.markers import hookimpl
from pouch.models import Container

__all__ = ["INITSCRIPT_TIMEOUT", "runner_hook"]

# Seconds an initscript may take before the runtime gives up on the start.
INITSCRIPT_TIMEOUT = 120
_SYSTEMD = "/lib/systemd/systemd"
_SYSTEMD_TMPFS = {
    "/run": "rw,nosuid,nodev,mode=755",
    "/run/lock": "rw,nosuid,nodev,noexec,mode=1777,size=5m",
    "/tmp": "rw,nosuid,nodev,mode=1777",
    "/var/log/journal": "rw,nosuid,nodev,mode=2755",
}


def runner_hook(mode: str, *args: str) -> oci.Hook:
    """An OCI hook that runs ``python -m pouch.hookrun MODE ARGS…``."""
    return oci.Hook(
        path=sys.executable,
        args=[sys.executable, "-m", "pouch.hookrun", mode, *args],
        timeout=INITSCRIPT_TIMEOUT,
    )


def _explicit_command(container: Container) -> bool:
    config = container.config
    return bool(config.cmd or config.entrypoint)


def _sbin_init(container: Container, spec: oci.Spec) -> None:
    assert spec.process is not None
    if _explicit_command(container):
        # The user's command runs beside the image's services, started once the
        # init runs; the image's default command is not one.
        spec.add_hooks().poststart.append(runner_hook("service", *spec.process.args))
        spec.annotations[oci.ANNOTATION_NEEDS_HOOKS] = "cmd:the command of a sbin-init container"
    spec.process.args = ["/sbin/init"]
    _add_capability(spec, "CAP_SYS_BOOT")
    if spec.annotations.get(oci.ANNOTATION_STOP_SIGNAL, "SIGTERM") == "SIGTERM":
        # SIGTERM is "reboot" to busybox's init, and LXC restarts a container
        # that rebooted; SIGUSR2 is its "poweroff" (unless the image says else).
        spec.annotations[oci.ANNOTATION_STOP_SIGNAL] = "SIGUSR2"


def _systemd(container: Container, spec: oci.Spec) -> None:
    assert spec.process is not None
    if _explicit_command(container):
        raise InvalidArgument(
            "a systemd rich container runs the image's systemd and its enabled units:"
            " make your command a unit (or use --rich-mode dumb-init)",
            field="cmd",
        )
    spec.process.args = [_SYSTEMD]
    spec.process.env = [e for e in spec.process.env if not e.startswith("container=")]
    spec.process.env.append("container=pouch")
    taken = {m.destination for m in spec.mounts}
    for target, options in _SYSTEMD_TMPFS.items():
        if target not in taken:
            spec.mounts.append(
                oci.Mount(
                    destination=target, type="tmpfs", source="tmpfs", options=options.split(",")
                )
            )
    for mount in spec.mounts:
        if mount.destination == "/sys/fs/cgroup" or mount.type == "cgroup":
            mount.options = [o for o in mount.options if o not in ("ro", "rw")] + ["rw"]
    spec.annotations[oci.ANNOTATION_STOP_SIGNAL] = "SIGRTMIN+3"


def _add_capability(spec: oci.Spec, name: str) -> None:
    caps = spec.process.capabilities if spec.process else None
    if caps is None:
        return
    for current in (caps.bounding, caps.effective, caps.permitted):
        if name not in current:
            current.append(name)


@hookimpl(tryfirst=True)
def pouch_container_create(container: Container, spec: oci.Spec) -> None:
    config = container.config
    if not config.rich or spec.process is None:
        return
    mode = config.rich_mode or "dumb-init"
    if mode == "dumb-init":
        with_init(spec, field="rich_mode")
    elif mode == "sbin-init":
        _sbin_init(container, spec)
    else:
        _systemd(container, spec)
    if config.initscript:
        spec.add_hooks().create_runtime.insert(0, runner_hook("initscript", config.initscript))
        spec.annotations[oci.ANNOTATION_NEEDS_HOOKS] = "initscript:an initscript"


@hookimpl
def pouch_container_rootfs(container: Container, writable: Path) -> None:
    # systemd wants an /etc/machine-id of 32 hex digits; the image's is usually
    # empty. Written into the container's own layer, the image keeps its own.
    if container.config.rich and container.config.rich_mode == "systemd":
        etc = writable / "etc"
        etc.mkdir(mode=0o755, exist_ok=True)
        (etc / "machine-id").write_text(container.id[:32] + "\n")
