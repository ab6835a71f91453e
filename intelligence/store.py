"""What matters survives restarts: an SQLite file (aiosqlite) in WAL mode, with versioned
migrations (``PRAGMA user_version``).

Writes never block chat: they are queued and committed in batches by one background task.
``flush()`` waits until everything queued so far is committed; a crash (even kill -9) loses
nothing that was committed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE chat_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        platform TEXT NOT NULL,
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        command TEXT NOT NULL,
        prompt TEXT NOT NULL,
        answer TEXT NOT NULL,
        tier TEXT NOT NULL,
        latency_ms REAL NOT NULL,
        tokens_in INTEGER NOT NULL DEFAULT 0,
        tokens_out INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE jokes (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,          -- a hash of the text: the same joke on every instance
        text TEXT NOT NULL,
        language TEXT NOT NULL,
        style TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL,              -- llm or offline
        created_at REAL NOT NULL,
        score INTEGER NOT NULL DEFAULT 0,  -- the sum of the votes
        retired INTEGER NOT NULL DEFAULT 0 -- voted down: never served again
    );
    CREATE TABLE jokes_served (
        viewer TEXT NOT NULL,
        joke_key TEXT NOT NULL,
        channel TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX jokes_served_by_viewer ON jokes_served (viewer, at);
    CREATE TABLE votes (
        viewer TEXT NOT NULL,
        joke_key TEXT NOT NULL,
        value INTEGER NOT NULL CHECK (value IN (-1, 1)),
        at REAL NOT NULL,
        PRIMARY KEY (viewer, joke_key)
    );
    CREATE TABLE learned (
        key TEXT PRIMARY KEY,              -- the cache key: namespace and question
        prompt TEXT NOT NULL,
        answer TEXT NOT NULL,
        tokens_in INTEGER NOT NULL DEFAULT 0,
        tokens_out INTEGER NOT NULL DEFAULT 0,
        pinned_at REAL NOT NULL
    );
    """,
    # 2: the moderation gate
    """
    CREATE TABLE banphrases (
        phrase TEXT PRIMARY KEY,           -- as the moderator wrote it
        added_by TEXT NOT NULL,
        added_at REAL NOT NULL
    );
    CREATE TABLE blocked (                 -- what the gate refused, for moderators to review
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        platform TEXT NOT NULL,
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        stage TEXT NOT NULL,               -- input, answer, joke, reply, automod
        layer TEXT NOT NULL,               -- banphrase, model, model_down, prompt_leak, automod
        reason TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX blocked_by_time ON blocked (at);
    """,
    # 3: joke families (a joke and its rewordings), and what each channel heard
    """
    ALTER TABLE jokes ADD COLUMN family TEXT NOT NULL DEFAULT '';
    UPDATE jokes SET family = key;
    ALTER TABLE jokes_served ADD COLUMN family TEXT NOT NULL DEFAULT '';
    UPDATE jokes_served SET family = joke_key;
    CREATE INDEX jokes_served_by_channel ON jokes_served (channel, at);
    CREATE INDEX jokes_by_time ON jokes (created_at);
    """,
]

BATCH = 500  # writes committed together at most
LOGS = ("chat_log", "blocked")  # the tables that only record history: retention trims them


@dataclass(frozen=True, slots=True)
class LogRow:
    platform: str
    channel: str
    user_id: str
    command: str
    prompt: str
    answer: str
    tier: str
    latency_ms: float
    tokens_in: int = 0
    tokens_out: int = 0


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._opening: asyncio.Lock | None = None
        self._queue: asyncio.Queue[tuple[str, Sequence[Any]] | asyncio.Future[None]] = (
            asyncio.Queue()
        )
        self._writer: asyncio.Task[None] | None = None
        self._open_task: asyncio.Task[aiosqlite.Connection] | None = None
        self.healthy = True  # false after a write failed; /health reports it

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Open and migrate the database, and start the writer (the app does it at start-up)."""
        await self.db()

    async def db(self) -> aiosqlite.Connection:
        """The connection, opened and migrated on first use."""
        if self._db is not None:
            return self._db
        self._opening = self._opening or asyncio.Lock()
        async with self._opening:
            if self._db is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = await aiosqlite.connect(self.path)
                db.row_factory = aiosqlite.Row
                try:
                    await db.execute("PRAGMA journal_mode=WAL")
                    await db.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against crashes
                    await db.execute("PRAGMA busy_timeout=5000")  # another process may write
                    await _migrate(db)
                except BaseException:
                    await db.close()
                    raise
                self._writer = asyncio.create_task(self._write_forever(db))
                self._db = db
        return self._db

    async def aclose(self) -> None:
        if self._open_task is not None:  # an open started by a write: let it finish first
            await asyncio.gather(self._open_task, return_exceptions=True)
        if self._db is None:
            return
        await self.flush()
        assert self._writer is not None
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        await self._db.close()
        self._db = None

    # -- writes: queued, batched, never awaited by chat -----------------------------------

    def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue a write; the writer task commits it soon, in order."""
        self._queue.put_nowait((sql, params))
        if self._db is None and self._open_task is None:
            self._open_task = asyncio.get_running_loop().create_task(self.db())

    async def flush(self) -> None:
        """Wait until every write queued so far is committed."""
        await self.db()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(done)
        await done

    async def _write_forever(self, db: aiosqlite.Connection) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            writes = [item for item in batch if isinstance(item, tuple)]
            try:
                # Consecutive rows of one statement go in one call: a thread hop per row
                # would cost more than the rest of a cached request.
                for sql, group in itertools.groupby(writes, key=lambda write: write[0]):
                    await db.executemany(sql, [params for _, params in group])
                await db.commit()
                self.healthy = True
            except Exception:
                self.healthy = False
                log.exception("SQLite write failed; %d writes lost", len(writes))
                await db.rollback()
            for item in batch:
                if isinstance(item, asyncio.Future) and not item.done():
                    item.set_result(None)

    # -- reads ----------------------------------------------------------------------------

    async def fetch(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        db = await self.db()
        async with db.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Write now and return the new row id (for rows whose id the caller needs)."""
        await self.flush()  # keep the order of queued writes
        db = await self.db()
        cursor = await db.execute(sql, params)
        await db.commit()
        return cursor.lastrowid or 0

    # -- the chat log ---------------------------------------------------------------------

    def log_chat(self, row: LogRow) -> None:
        self.write(
            "INSERT INTO chat_log (at, platform, channel, user_id, command, prompt, answer, tier,"
            " latency_ms, tokens_in, tokens_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                row.platform,
                row.channel,
                row.user_id,
                row.command,
                row.prompt,
                row.answer,
                row.tier,
                row.latency_ms,
                row.tokens_in,
                row.tokens_out,
            ),
        )

    def trim(self, *, keep_days: float, keep_rows: int) -> None:
        """Forget log rows older than ``keep_days`` or beyond the newest ``keep_rows``: the
        database stays bounded however long the bot runs (freed pages are reused)."""
        cutoff = time.time() - keep_days * 86_400
        for table in LOGS:
            self.write(
                f"DELETE FROM {table} WHERE at < ? OR id <= "
                f"(SELECT id FROM {table} ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (cutoff, keep_rows),
            )

    async def recent_logs(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT * FROM chat_log ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(row) for row in rows]


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        (version,) = await cursor.fetchone()  # type: ignore[misc]
    if version > len(MIGRATIONS):
        raise RuntimeError(f"the database is from a newer quipbot (schema {version})")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        log.info("SQLite schema migrated to version %d", number)
