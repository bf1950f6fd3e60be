"""The parts of an OCI image configuration that shape a container's process.

Owns ``ImageConfig``: the ``config`` object of an image-spec configuration
blob (``application/vnd.oci.image.config.v1+json``), limited to what the
engine uses. Fields keep the image-spec's PascalCase JSON names through an
explicit rename map. Registries and old Docker images write ``null`` for empty
lists and maps, so every field accepts it. Fetching and verifying the blob is
``pouch.images``' job.
"""

from __future__ import annotations

from typing import Any

from ._base import OCIStruct

__all__ = ["ImageConfig", "ImageHealthcheck"]


class ImageHealthcheck(OCIStruct, kw_only=True):
    """Docker's ``Healthcheck`` of an image config (not in the OCI spec; docker writes it).

    Names and units are docker's: durations in nanoseconds, 0 for the default.
    """

    Test: list[str] | None = None
    Interval: int = 0
    Timeout: int = 0
    StartPeriod: int = 0
    StartInterval: int = 0
    Retries: int = 0


class ImageConfig(
    OCIStruct,
    kw_only=True,
    rename={
        "user": "User",
        "exposed_ports": "ExposedPorts",
        "env": "Env",
        "entrypoint": "Entrypoint",
        "cmd": "Cmd",
        "volumes": "Volumes",
        "working_dir": "WorkingDir",
        "labels": "Labels",
        "stop_signal": "StopSignal",
        "healthcheck": "Healthcheck",
        "on_build": "OnBuild",
        "shell": "Shell",
    },
):
    """Defaults an image gives its containers (image-spec ``config``)."""

    user: str = ""
    # "80/tcp" -> {} (the value is always an empty object in the spec).
    exposed_ports: dict[str, dict[str, Any]] | None = None
    env: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    # Container paths that get an anonymous volume -> {}.
    volumes: dict[str, dict[str, Any]] | None = None
    working_dir: str = ""
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    healthcheck: ImageHealthcheck | None = None
    # Docker's extensions: instructions a build FROM this image runs first
    # (ONBUILD), and the shell of RUN's shell form (SHELL).
    on_build: list[str] | None = None
    shell: list[str] | None = None
