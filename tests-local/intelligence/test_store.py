"""SQLite: WAL, versioned migrations, writes off the chat path, and nothing committed lost
when the process is killed with -9."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys

import pytest
from support import ROOT

from intelligence.store import MIGRATIONS, LogRow, Store

WRITER = """
import asyncio, sys
sys.path.insert(0, {root!r})
from intelligence.store import LogRow, Store

async def main():
    store = Store(__import__("pathlib").Path({path!r}))
    committed = 0
    while True:
        for _ in range(50):
            committed += 1
            store.log_chat(LogRow("twitch", "chan", str(committed), "ask", "q", "a", "llm", 1.0))
        await store.flush()
        print(f"committed {{committed}}", flush=True)

asyncio.run(main())
"""


async def test_kill_9_loses_nothing_that_was_committed(tmp_path):
    path = tmp_path / "quipbot.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER.format(root=str(ROOT), path=str(path)),
        stdout=asyncio.subprocess.PIPE,
    )
    acknowledged = 0
    while acknowledged < 2000:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        acknowledged = int(line.split()[1])
    os.kill(proc.pid, signal.SIGKILL)  # mid-write, no chance to clean up
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT COUNT(*), MAX(CAST(user_id AS INTEGER)) FROM chat_log").fetchone()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    count, highest = rows
    assert count >= acknowledged and highest >= acknowledged
    assert count == highest  # every row up to the last committed one, in order, no gaps


async def test_schema_wal_and_migrations(tmp_path):
    store = Store(tmp_path / "q.db")
    db = await store.db()
    async with db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"
    async with db.execute("PRAGMA user_version") as cursor:
        assert (await cursor.fetchone())[0] == len(MIGRATIONS)
    store.log_chat(LogRow("discord", "c", "u", "ask", "question", "answer", "l1", 0.2, 3, 4))
    await store.aclose()

    reopened = Store(tmp_path / "q.db")  # migrations are not run twice
    [row] = await reopened.recent_logs(5)
    assert (row["prompt"], row["tier"], row["tokens_out"]) == ("question", "l1", 4)
    await reopened.aclose()


async def test_a_database_from_a_newer_version_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "q.db") as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    store = Store(tmp_path / "q.db")
    with pytest.raises(RuntimeError, match="newer quipbot"):
        await store.db()


async def test_writes_are_queued_not_awaited(tmp_path):
    store = Store(tmp_path / "q.db")
    for i in range(1000):  # returns at once, before the database is even open
        store.log_chat(LogRow("console", "c", str(i), "joke", "", "a joke", "fallback", 0.1))
    await store.flush()
    assert len(await store.recent_logs(2000)) == 1000
    await store.aclose()


async def test_a_failed_write_is_logged_and_the_store_recovers(tmp_path, caplog):
    store = Store(tmp_path / "q.db")
    store.write("INSERT INTO no_such_table VALUES (1)")
    await store.flush()
    assert not store.healthy
    assert "SQLite write failed" in caplog.text
    store.log_chat(LogRow("console", "c", "1", "joke", "", "a joke", "fallback", 0.1))
    await store.flush()
    assert store.healthy and len(await store.recent_logs()) == 1
    await store.aclose()


async def test_retention_keeps_the_newest_rows_and_days(tmp_path):
    store = Store(tmp_path / "q.db")
    for i in range(3000):
        store.log_chat(LogRow("console", "c", str(i), "ask", "q", "a", "llm", 0.1))
    store.write(
        "INSERT INTO blocked (at, platform, channel, user_id, stage, layer, reason, text) "
        "VALUES (0, 'twitch', 'c', 'u', 'reply', 'banphrase', 'insult', 'old')"  # 1970
    )
    store.trim(keep_days=30, keep_rows=1000)
    await store.flush()
    rows = await store.fetch("SELECT MIN(CAST(user_id AS INTEGER)), COUNT(*) FROM chat_log")
    assert tuple(rows[0]) == (2000, 1000)  # the newest 1000
    assert (await store.fetch("SELECT COUNT(*) FROM blocked"))[0][0] == 0  # older than 30 days
    store.trim(keep_days=30, keep_rows=5000)  # fewer rows than kept: nothing goes
    await store.flush()
    assert (await store.fetch("SELECT COUNT(*) FROM chat_log"))[0][0] == 1000
    await store.aclose()
