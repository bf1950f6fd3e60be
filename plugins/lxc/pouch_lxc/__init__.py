"""pouch-lxc: the ``lxc`` runtime driver, on Debian's liblxc tools.

One LXC container per pouch container, configured from its OCI spec
(``pouch_lxc._config``), started by ``lxc-start -F`` under a detached monitor
of the plugin's own that writes the container's log in the CRI format and its
exit code to a file (``pouch_lxc._monitor``), so containers outlive pouchd.
Exec goes through ``lxc-attach``, pause through ``lxc-freeze``, live limits
through ``lxc-cgroup``.

``LxcRuntime`` is imported lazily: the monitor, a process per container,
imports this package and should start fast and stay small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pouch_lxc.runtime import LxcRuntime

__all__ = ["LxcRuntime"]


def __getattr__(name: str) -> Any:
    if name == "LxcRuntime":
        from pouch_lxc.runtime import LxcRuntime

        return LxcRuntime
    raise AttributeError(name)
