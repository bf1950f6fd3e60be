"""The SQLite store: migrations, WAL, one transaction per change."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pouch.errors import Conflict
from pouch.models import Container, ContainerConfig, State
from pouch.store import ContainerTable, Database, SchemaTooNew
from pouch.store._schema import MIGRATIONS


def record(cid: str, name: str) -> Container:
    return Container(
        id=cid,
        name=name,
        config=ContainerConfig(image="busybox"),
        image_id="sha256:" + "0" * 64,
        runtime="process",
        created_at=time.time(),
    )


def test_migrates_a_new_database_to_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    db = Database(tmp_path / "pouch.db")
    assert db.version == len(MIGRATIONS)
    assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    db.close()
    again = Database(tmp_path / "pouch.db")  # reopening applies nothing twice
    assert again.version == len(MIGRATIONS)


def test_refuses_a_database_from_a_newer_pouch(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "pouch.db")
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade pouch"):
        Database(tmp_path / "pouch.db")


def test_container_records_round_trip_and_names_are_unique(tmp_path: Path) -> None:
    table = ContainerTable(Database(tmp_path / "pouch.db"))
    first = record("a" * 64, "web")
    table.add(first)
    first.state.status = State.RUNNING
    table.put(first)
    assert table.get("a" * 64) == first
    assert table.by_name("web") == first
    assert [c.id for c in table.by_prefix("aaa")] == ["a" * 64]
    with pytest.raises(Conflict, match="'web' is already in use"):
        table.add(record("b" * 64, "web"))
    assert [c.id for c in table.all()] == ["a" * 64]


def test_prefix_search_treats_wildcards_literally(tmp_path: Path) -> None:
    table = ContainerTable(Database(tmp_path / "pouch.db"))
    table.add(record("ab" + "0" * 62, "one"))
    assert table.by_prefix("a_") == [] and table.by_prefix("a%") == []


def test_a_killed_writer_leaves_the_last_committed_state(tmp_path: Path) -> None:
    """A process killed mid-way through writes loses only its uncommitted work."""
    table = ContainerTable(Database(tmp_path / "pouch.db"))
    table.add(record("c" * 64, "kept"))
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parents[2] / "core")!r})
from pouch.store import Database
db = Database(__import__("pathlib").Path({str(tmp_path / "pouch.db")!r}))
conn = db._conn
conn.execute("BEGIN IMMEDIATE")
conn.execute("DELETE FROM containers")
print("ready", flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    finally:
        proc.kill()
        proc.wait()
    reopened = ContainerTable(Database(tmp_path / "pouch.db"))
    assert [c.name for c in reopened.all()] == ["kept"]
