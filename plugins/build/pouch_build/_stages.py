"""A Dockerfile as stages: Docker's parser (the ``dockerfile`` package), then the stages.

The ARGs before the first ``FROM`` are the build's global arguments, usable
in ``FROM`` lines (and, redeclared without a value, inside a stage). Each
``FROM`` opens a stage, named by ``AS name`` or known by its index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dockerfile
from dockerfile import Command as Instruction

from pouch.errors import InvalidArgument

__all__ = ["Instruction", "Stage", "parse"]

_DIRECTIVE = re.compile(r"^#\s*(?P<name>[a-zA-Z][a-zA-Z0-9]*)\s*=\s*(?P<value>\S+)\s*$")


@dataclass
class Stage:
    index: int
    base: str  # as written, before expansion
    name: str
    platform: str
    steps: list[Instruction] = field(default_factory=list)


@dataclass
class Parsed:
    global_args: list[Instruction]
    stages: list[Stage]
    # The ``# escape=`` parser directive's character (backslash by default).
    escape: str = "\\"

    def target(self, name: str) -> int:
        """The index of the stage the build stops at."""
        if not name:
            return len(self.stages) - 1
        for stage in self.stages:
            if stage.name == name.lower():
                return stage.index
        raise InvalidArgument(f"target stage {name!r} could not be found", field="target")


def parse(text: str) -> Parsed:
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise InvalidArgument(
            f"the Dockerfile cannot be parsed: {exc}", field="dockerfile"
        ) from None
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for command in commands:
        if command.cmd == "FROM":
            values = list(command.value)
            name = ""
            if len(values) == 3 and values[1].upper() == "AS":
                name = values[2].lower()
            elif len(values) != 1:
                raise InvalidArgument(
                    f"line {command.start_line}: FROM takes an image and an optional AS name",
                    field="FROM",
                )
            platform = next(
                (f.split("=", 1)[1] for f in command.flags if f.startswith("--platform=")), ""
            )
            stages.append(Stage(len(stages), values[0], name, platform))
        elif not stages:
            if command.cmd != "ARG":
                raise InvalidArgument(
                    f"line {command.start_line}: {command.cmd} before the first FROM",
                    field=command.cmd,
                )
            global_args.append(command)
        else:
            stages[-1].steps.append(command)
    if not stages:
        raise InvalidArgument("the Dockerfile has no FROM", field="dockerfile")
    return Parsed(global_args, stages, _escape(text))


def _escape(text: str) -> str:
    """The escape directive: only in the comment lines at the very top."""
    for line in text.splitlines():
        match = _DIRECTIVE.match(line)
        if match is None:
            break
        if match["name"].lower() == "escape":
            return match["value"] if match["value"] in ("\\", "`") else "\\"
    return "\\"
