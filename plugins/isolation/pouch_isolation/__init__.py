"""pouch-isolation: isolation features that lean on host tools, as plugins.

``lxcfs``: containers see their own limits in ``/proc/meminfo``, ``cpuinfo``,
``stat``, ``uptime``, ``diskstats``, ``swaps``, ``loadavg`` and
``/sys/devices/system/cpu/online``, served by Debian's ``lxcfs``, which the
plugin finds or starts, keeps alive, and mounts again into running
containers after it restarted.
"""

__version__ = "0.1.0"
