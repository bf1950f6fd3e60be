"""Container names: validation and docker-style generated names."""

from __future__ import annotations

import re
import secrets

from pouch.errors import InvalidArgument

__all__ = ["generate_name", "validate_name"]

_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")

_LEFT = [
    "admiring",
    "agile",
    "bold",
    "brave",
    "calm",
    "clever",
    "cool",
    "crisp",
    "daring",
    "eager",
    "elegant",
    "epic",
    "fervent",
    "focused",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "kind",
    "lucid",
    "merry",
    "modest",
    "nifty",
    "noble",
    "quirky",
    "quiet",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "sweet",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "zealous",
]
_RIGHT = [
    "albattani",
    "babbage",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "fermi",
    "feynman",
    "galileo",
    "gauss",
    "hamilton",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "maxwell",
    "meitner",
    "noether",
    "pascal",
    "planck",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "turing",
    "wozniak",
]


def validate_name(name: str) -> str:
    """docker's rule ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``; a leading '/' is dropped."""
    if not _NAME.match(name):
        raise InvalidArgument(
            f"invalid container name {name!r}: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit",
            field="name",
        )
    return name.lstrip("/")


def generate_name() -> str:
    """``adjective_scientist``, as docker names containers."""
    return f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"
