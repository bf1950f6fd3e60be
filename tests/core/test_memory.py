"""pouchd's heap: one malloc arena for all threads, httpx without its command-line client."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_THREADS = """
import ctypes, threading
from pouch._memory import give_back, limit_arenas
if {limit}:
    limit_arenas()
kept = []
def work():
    kept.append([bytes(4096) for _ in range(64)])
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
give_back()
ctypes.CDLL(None).malloc_stats()
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def _arenas(limit: bool) -> int:
    stats = _run(_THREADS.format(limit=limit)).stderr  # malloc_stats writes to stderr
    return sum(line.startswith("Arena ") for line in stats.splitlines())


def test_threads_share_one_arena() -> None:
    assert _arenas(limit=False) > 1
    assert _arenas(limit=True) == 1


def test_httpx_works_without_its_command_line_client() -> None:
    done = _run(
        """
        import sys
        from pouch._memory import skip_httpx_cli
        skip_httpx_cli()
        import httpx
        assert httpx.URL("http://127.0.0.1:5000/v2/").port == 5000
        print(sorted(name for name in ("click", "rich", "pygments") if name in sys.modules))
        """
    )
    assert done.stdout.strip() == "[]"
