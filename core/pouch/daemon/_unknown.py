"""Finding fields of a JSON document that a msgspec type does not declare.

The API's structs tolerate unknown fields, because docker's newer clients send
fields of newer API versions; for every other client the daemon reports the
first unknown field by its path (``$.HostConfig.Memroy``), so typos do not
pass silently. msgspec knows the types; this walks the decoded document
alongside them.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec.inspect as mi

__all__ = ["unknown_fields"]


def unknown_fields(document: Any, kind: Any) -> list[str]:
    """Paths of the fields in ``document`` that ``kind`` has no place for."""
    return _walk(document, _type_info(kind), "$")


@functools.cache
def _type_info(kind: Any) -> mi.Type:
    """msgspec's description of ``kind``, made once per type (it walks every nested type)."""
    return mi.type_info(kind)


_FIELDS: dict[int, dict[str, mi.Field]] = {}  # id of a cached StructType -> its fields by name


def _walk(value: Any, info: mi.Type, path: str) -> list[str]:
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        fields = _FIELDS.get(id(info))
        if fields is None:
            fields = _FIELDS[id(info)] = {field.encode_name: field for field in info.fields}
        found: list[str] = []
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                found.append(f"{path}.{key}")
            else:
                found.extend(_walk(item, field.type, f"{path}.{key}"))
        return found
    if isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        if isinstance(value, list):
            return [
                p
                for i, item in enumerate(value)
                for p in _walk(item, info.item_type, f"{path}[{i}]")
            ]
        return []
    if isinstance(info, mi.DictType) and isinstance(value, dict):
        return [
            p for key, item in value.items() for p in _walk(item, info.value_type, f"{path}.{key}")
        ]
    if isinstance(info, mi.UnionType):
        for option in info.types:
            if _fits(value, option):
                return _walk(value, option, path)
    return []


def _fits(value: Any, info: mi.Type) -> bool:
    if isinstance(value, dict):
        return isinstance(info, (mi.StructType, mi.DictType))
    if isinstance(value, list):
        return isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType))
    return False
