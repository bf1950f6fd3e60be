"""The guest side of the kernel lane.

The image holds only ``GUEST_BOOTSTRAP``, run by ``pouch-lane.service`` once
the guest is up: it mounts the job directory and runs the ``GUEST_SCRIPT`` the
host wrote there for this boot (so changing it needs no new image). That
script (stdlib Python) mounts the host's other 9p shares at the host's own
paths, so the checkout's virtual environment and editable installs work
unchanged; records what the guest really runs (kernel, cgroup layout,
systemd); runs the job's command with its output in the job directory, where
the host reads it as it grows; writes the exit code last, and powers the
guest off.
"""

from __future__ import annotations

__all__ = ["GUEST_BOOTSTRAP", "GUEST_SCRIPT", "GUEST_UNIT"]

GUEST_BOOTSTRAP = """\
#!/bin/sh
mkdir -p /lane
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=none lane /lane; then
    exec python3 /lane/pouch-lane.py
fi
echo "pouch-lane: no job share" >&2
systemctl poweroff --no-block
"""

GUEST_UNIT = """\
[Unit]
Description=pouch kernel lane: run the host's job, then power off
After=basic.target dbus.service
Wants=dbus.service

[Service]
Type=simple
ExecStart=/usr/local/sbin/pouch-lane
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""

GUEST_SCRIPT = """\
#!/usr/bin/python3
import json, os, platform, subprocess, sys

def mount(tag, path, cache="loose"):
    # loose: the guest caches what it reads (the host does not change the shares
    # during a run); the job directory is written for the host to read at once.
    os.makedirs(path, exist_ok=True)
    options = "trans=virtio,version=9p2000.L,msize=524288,cache=" + cache
    subprocess.run(["mount", "-t", "9p", "-o", options, tag, path], check=True)

def layout():
    kinds = {}
    for line in open("/proc/self/mountinfo"):
        before, _, after = line.partition(" - ")
        kinds.setdefault(before.split()[4], after.split(" ", 1)[0])
    if kinds.get("/sys/fs/cgroup") == "cgroup2":
        return "v2"
    return "hybrid" if "cgroup2" in kinds.values() else "v1"

def main():
    job = json.load(open("/lane/job.json"))
    for tag, path in job["shares"].items():
        mount(tag, path)
    systemd = subprocess.run(["systemctl", "--version"], capture_output=True, text=True)
    facts = {"kernel": platform.release(), "layout": layout(),
             "systemd": systemd.stdout.split("\\n", 1)[0],
             "running": subprocess.run(["systemctl", "is-system-running"],
                                       capture_output=True, text=True).stdout.strip()}
    json.dump(facts, open("/lane/facts.json", "w"))
    print("pouch-lane: guest", json.dumps(facts), flush=True)
    env = dict(os.environ, **job.get("env", {}))
    with open("/lane/output.log", "wb", buffering=0) as out:
        done = subprocess.run(job["command"], cwd=job["cwd"], env=env, stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    with open("/lane/exit.partial", "w") as f:
        f.write(str(done.returncode))
    os.rename("/lane/exit.partial", "/lane/exit")
    os.sync()

try:
    main()
except Exception as error:
    print("pouch-lane: failed:", error, file=sys.stderr, flush=True)
    with open("/lane/exit", "w") as f:
        f.write("lane: " + str(error))
finally:
    subprocess.run(["systemctl", "poweroff", "--no-block"])
"""
