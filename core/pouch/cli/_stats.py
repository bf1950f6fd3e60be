"""``stats``: CPU, memory, network, block I/O and PIDs of containers, as docker shows them.

One thread per container reads its stats (one sample with ``--no-stream``,
the stream otherwise); the main thread redraws the table once a second.
"""

from __future__ import annotations

import sys
import threading
import time

from pouch.cli._errors import CLIError
from pouch.cli._format import bytes_size, emit, human_size, make_template
from pouch.cli._http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["stats", "stats_row"]

DEFAULT = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
HEADERS = {
    "ID": "CONTAINER ID",
    "Container": "CONTAINER",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
}


def _cpu_percent(sample: dict[str, Any]) -> float:
    cpu = sample.get("cpu_stats") or {}
    pre = sample.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = (
        cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    )
    if used > 0 and system > 0:
        return float(used) / float(system) * float(online) * 100.0
    return 0.0


def stats_row(sample: dict[str, Any], name: str, *, trunc: bool = True) -> dict[str, Any]:
    """One stats sample (``GET /containers/{id}/stats``) as the strings ``stats`` shows."""
    memory = sample.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    usage = max(0, int(memory.get("usage") or 0) - int(cache or 0))
    limit = int(memory.get("limit") or 0)
    rx = sum(int(n.get("rx_bytes", 0)) for n in (sample.get("networks") or {}).values())
    tx = sum(int(n.get("tx_bytes", 0)) for n in (sample.get("networks") or {}).values())
    blkio = (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    read = sum(int(e.get("value", 0)) for e in blkio if str(e.get("op", "")).lower() == "read")
    write = sum(int(e.get("value", 0)) for e in blkio if str(e.get("op", "")).lower() == "write")
    cid = str(sample.get("id") or "")
    return {
        "ID": cid[:12] if trunc else cid,
        "Name": (sample.get("name") or name).lstrip("/"),
        "Container": name,
        "CPUPerc": f"{_cpu_percent(sample):.2f}%",
        "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "BlockIO": f"{human_size(read)} / {human_size(write)}",
        "PIDs": str((sample.get("pids_stats") or {}).get("current", 0)),
    }


class _Collector(threading.Thread):
    def __init__(self, client: Client, name: str, stream: bool) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.name_ = name
        self.stream = stream
        self.sample: dict[str, Any] | None = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            path = f"/containers/{self.name_}/stats"
            response = self.client.request("GET", path, query={"stream": self.stream})
            for message in response.messages():
                if isinstance(message, dict):
                    self.sample = message
                if not self.stream:
                    break
        except CLIError as exc:
            self.error = exc.message


def stats(args: argparse.Namespace, client: Client) -> int:
    template = make_template(args.format, DEFAULT)
    names = list(args.containers)
    if not names:
        listed = client.get("/containers/json", {"all": args.all or None}) or []
        names = [str(c.get("Id", ""))[:12] for c in listed]
    collectors = [_Collector(client, name, stream=not args.no_stream) for name in names]
    for collector in collectors:
        collector.start()
    if args.no_stream:
        for collector in collectors:
            collector.join()
        for collector in collectors:
            if collector.error:
                raise CLIError(collector.error)
        _draw(template, collectors, args.no_trunc)
        return 0
    tty = sys.stdout.isatty()
    while True:
        time.sleep(1.0)
        if tty:
            sys.stdout.write("\x1b[2J\x1b[H")
        _draw(template, collectors, args.no_trunc)
        sys.stdout.flush()
        if all(not c.is_alive() for c in collectors):
            errors = [c.error for c in collectors if c.error]
            if errors:
                raise CLIError(errors[0])
            return 0


def _draw(template: Any, collectors: list[_Collector], no_trunc: bool) -> None:
    rows = [stats_row(c.sample or {"id": c.name_}, c.name_, trunc=not no_trunc) for c in collectors]
    emit(template, rows, HEADERS)
