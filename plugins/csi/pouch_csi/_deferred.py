"""grpc and the CSI messages, imported when first used rather than when named.

They are about 20 MiB of a process's memory; pouchd loads this plugin at
start, and most hosts never configure a CSI driver. So the modules on
pouchd's path take ``grpc`` and ``pb`` from here: the first read of one of
their attributes (the first call to a driver, the first volume option that
needs a message) imports the real module. The type checker sees the real
imports.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

__all__ = ["grpc", "pb"]


class _Deferred(types.ModuleType):
    def __getattr__(self, attribute: str) -> Any:
        # Called only for names not copied yet: the first read brings them all in.
        module = importlib.import_module(self.__name__)  # thread-safe, imports once
        self.__dict__.update(vars(module))
        return getattr(module, attribute)


if TYPE_CHECKING:
    import grpc

    from pouch_csi._pb import csi_pb2 as pb
else:
    grpc = _Deferred("grpc")
    pb = _Deferred("pouch_csi._pb.csi_pb2")
