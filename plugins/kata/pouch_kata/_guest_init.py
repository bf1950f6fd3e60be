"""The guest's ``/init`` until the agent exists: a busybox shell script.

It mounts proc, sys and dev, loads the modules listed in
``/etc/pouch-kata/modules`` (one path a line, dependencies first), announces
``pouch-kata-guest-ready <release>`` on the console and on the virtio-serial
port named ``pouch.agent`` when there is one, then powers the VM off.

The hook for the agent: ``pouch-kata assets build --agent PATH`` puts that
static binary at ``/init`` instead; this script then stays in the image as
``/usr/lib/pouch-kata/init.sh`` and the module list at
``/etc/pouch-kata/modules``, both for the agent to use or imitate.
"""

from __future__ import annotations

__all__ = ["AGENT_PORT", "INIT_SCRIPT", "MODULES_LIST", "READY_MARKER", "SCRIPT_PATH"]

READY_MARKER = "pouch-kata-guest-ready"
AGENT_PORT = "pouch.agent"
MODULES_LIST = "etc/pouch-kata/modules"
SCRIPT_PATH = "usr/lib/pouch-kata/init.sh"

INIT_SCRIPT = f"""#!/bin/sh
# pouch-kata guest init (busybox sh): made by `pouch-kata assets build`.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
read -r t0 _ < /proc/uptime
echo "pouch-kata-init: started at $t0"
if [ -f /{MODULES_LIST} ]; then
    while read -r module; do
        [ -n "$module" ] || continue
        insmod "$module" || echo "pouch-kata-init: insmod $module failed"
    done < /{MODULES_LIST}
fi
read -r uptime _ < /proc/uptime
marker="{READY_MARKER} $(uname -r) uptime=$uptime"
echo "$marker"
[ -c /dev/hvc0 ] && echo "$marker" > /dev/hvc0
# The named virtio-serial port (virtio device id 3): udev would link
# /dev/virtio-ports/NAME; here the name is read from sysfs. Its ports may show
# up a moment after insmod, so look a few times.
if grep -qsx 0x0003 /sys/bus/virtio/devices/*/device; then
    for try in 1 2 3 4 5 6 7 8 9 10; do
        for port in /sys/class/virtio-ports/*; do
            [ -f "$port/name" ] || continue
            if [ "$(cat "$port/name")" = "{AGENT_PORT}" ]; then
                # A host that is not listening must not hold the guest up.
                timeout 2 sh -c "echo '$marker' > /dev/${{port##*/}}"
                break 2
            fi
        done
        sleep 0.1
    done
fi
poweroff -f
sleep 5
reboot -f
"""
