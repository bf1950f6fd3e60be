"""The OCI process of an ``exec``: the container's own process, with overrides."""

from __future__ import annotations

import msgspec

from pouch import oci
from pouch.models import ExecConfig

__all__ = ["exec_process"]


def exec_process(spec: oci.Spec, config: ExecConfig) -> oci.Process:
    """Start from the container's process (user, env, caps, rlimits) and apply ``config``."""
    if spec.process is None:
        raise ValueError("the container's spec has no process")
    base = spec.process
    capabilities = base.capabilities
    if config.privileged:
        caps = oci.all_capabilities()
        capabilities = oci.LinuxCapabilities(bounding=caps, effective=caps, permitted=caps)
    return msgspec.structs.replace(
        base,
        args=list(config.cmd),
        env=oci.merge_env(base.env, config.env),
        user=oci.parse_user(config.user) if config.user else base.user,
        cwd=config.working_dir or base.cwd,
        terminal=config.tty,
        console_size=(
            oci.Box(height=config.console_size[0], width=config.console_size[1])
            if config.tty and config.console_size
            else None
        ),
        capabilities=capabilities,
    )
