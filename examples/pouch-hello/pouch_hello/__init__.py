"""pouch-hello: the smallest useful pouch plugin, written to be read.

The hooks live in ``pouch_hello.plugin``, the module the ``pouch.plugins``
entry point names. This package module stays import-free so that listing
plugins never pays for more than it loads.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
