"""The base struct of every OCI type and the spec version this package writes.

Owns only the msgspec configuration shared by the runtime-spec and image-spec
structs; it must not define any spec type itself.
"""

from __future__ import annotations

import msgspec

__all__ = ["OCI_VERSION", "OCIStruct"]

# The runtime-spec version written into config.json: 1.1.0, because runtimes
# still in use (crun 1.8) refuse a newer one; the structs also carry the few
# 1.2 fields, which older runtimes ignore.
OCI_VERSION = "1.1.0"


class OCIStruct(msgspec.Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=False):
    """Base for OCI structs: written by us, read back from runtimes and registries.

    Unknown fields are tolerated because runtimes and images carry fields newer
    than this package (they are dropped on decode). ``kw_only`` is not inherited
    by msgspec, so every subclass repeats ``kw_only=True``.
    """
