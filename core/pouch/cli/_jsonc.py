"""``json.loads`` and ``json.dumps`` (default settings) through the C accelerator ``_json``.

The ``json`` package imports ``re``, and ``re`` imports ``enum``: together a
good part of a command's start-up. The C scanner and encoder are what
``json`` itself uses for these calls; anything they do not handle the plain
way — an error, bytes in another encoding — goes to ``json``, so results and
exceptions are those of ``json``.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["dumps", "loads"]

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class _Context:
    """The settings of ``json``'s default decoder, as its scanner reads them."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # reads these attributes


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def loads(data: str | bytes) -> Any:
    """``json.loads(data)``."""
    try:
        if isinstance(data, bytes):
            if 0 in data[:4] or data.startswith(_BOMS):
                raise ValueError("not UTF-8 without a BOM")  # json detects the encoding
            text = data.decode("utf-8", "surrogatepass")
        elif isinstance(data, str) and not data.startswith("\ufeff"):
            text = data
        else:
            raise TypeError(type(data).__name__)
        start = len(text) - len(text.lstrip(_WHITESPACE))
        value, end = _scan(text, start)
        if text[end:].strip(_WHITESPACE):
            raise ValueError("extra data")
    except Exception:
        import json

        return json.loads(data)
    return value


def dumps(value: object) -> str:
    """``json.dumps(value)``."""
    if isinstance(value, str):
        result: str = _json.encode_basestring_ascii(value)
        return result
    try:
        encode = _json.make_encoder(
            {},
            _not_serializable,
            _json.encode_basestring_ascii,
            None,
            ": ",
            ", ",
            False,
            False,
            True,
        )
        return "".join(encode(value, 0))
    except Exception:
        import json

        return json.dumps(value)
