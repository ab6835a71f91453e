"""Every joke ever served, in SQLite: its text, its votes and whether it retired."""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiosqlite

from intelligence.store import Store

RETIRE_AT = -3  # a joke whose votes sum to this is never served again


@dataclass(frozen=True, slots=True)
class Figures:
    jokes: int  # in the archive, in this language
    from_llm: int
    retired: int
    best: int  # the best score (0 when none is rated)


@dataclass(frozen=True, slots=True)
class Vote:
    text: str
    score: int
    retired: bool


class JokeArchive:
    def __init__(self, store: Store, language: str) -> None:
        self._store = store
        self._language = language
        self._retired: set[str] = set()

    async def load(self) -> None:
        """The retired jokes (at start-up)."""
        rows = await self._store.fetch("SELECT key FROM jokes WHERE retired = 1")
        self._retired = {row[0] for row in rows}

    def is_retired(self, key: str) -> bool:
        return key in self._retired

    def add(self, key: str, family: str, text: str, style: str, source: str) -> None:
        self._store.write(
            "INSERT OR IGNORE INTO jokes (key, family, text, language, style, source, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, family, text, self._language, style, source, time.time()),
        )

    async def recent(self, limit: int) -> list[aiosqlite.Row]:
        """The newest LLM jokes with their families, to know their rewordings (at start-up)."""
        return await self._store.fetch(
            "SELECT key, family, text FROM jokes WHERE language = ? AND source = 'llm' "
            "ORDER BY created_at DESC LIMIT ?",
            (self._language, limit),
        )

    async def well_rated(self, limit: int = 30) -> list[aiosqlite.Row]:
        """LLM jokes the chat liked, best first: they come back before new ones are made."""
        return await self._store.fetch(
            "SELECT key, family, text, style, score FROM jokes WHERE language = ? "
            "AND source = 'llm' AND retired = 0 AND score > 0 "
            "ORDER BY score DESC, created_at DESC LIMIT ?",
            (self._language, limit),
        )

    async def vote(self, viewer: str, key: str, value: int) -> Vote | None:
        """Record ``viewer``'s +1 or -1 for ``key`` (a second vote replaces the first); None when
        no such joke was ever served."""
        await self._store.flush()  # the joke's archive row may still be queued
        rows = await self._store.fetch("SELECT text FROM jokes WHERE key = ?", (key,))
        if not rows:
            return None
        self._store.write(
            "INSERT INTO votes (viewer, joke_key, value, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (viewer, joke_key) DO UPDATE SET value = excluded.value, at = excluded.at",
            (viewer, key, value, time.time()),
        )
        self._store.write(
            "UPDATE jokes SET score = (SELECT COALESCE(SUM(value), 0) FROM votes "
            "WHERE joke_key = ?1), retired = ((SELECT COALESCE(SUM(value), 0) FROM votes "
            "WHERE joke_key = ?1) <= ?2) WHERE key = ?1",
            (key, RETIRE_AT),
        )
        await self._store.flush()
        [row] = await self._store.fetch("SELECT score, retired FROM jokes WHERE key = ?", (key,))
        if row["retired"]:
            self._retired.add(key)
        return Vote(rows[0]["text"], row["score"], bool(row["retired"]))

    async def retire(self, key: str) -> str | None:
        """Retire ``key`` by hand (a moderator, whatever its votes); its text, or None when no
        such joke was ever served. Committed before it returns."""
        await self._store.flush()  # the joke's archive row may still be queued
        rows = await self._store.fetch("SELECT text FROM jokes WHERE key = ?", (key,))
        if not rows:
            return None
        await self._store.execute("UPDATE jokes SET retired = 1 WHERE key = ?", (key,))
        self._retired.add(key)
        return str(rows[0]["text"])

    async def figures(self) -> Figures:
        await self._store.flush()  # count what was just served too
        [row] = await self._store.fetch(
            "SELECT COUNT(*), COALESCE(SUM(source = 'llm'), 0), COALESCE(SUM(retired), 0), "
            "COALESCE(MAX(score), 0) FROM jokes WHERE language = ?",
            (self._language,),
        )
        return Figures(*row)

    async def top(self, count: int) -> list[tuple[str, int]]:
        rows = await self._store.fetch(
            "SELECT text, score FROM jokes WHERE language = ? AND retired = 0 AND score > 0 "
            "ORDER BY score DESC, created_at DESC LIMIT ?",
            (self._language, count),
        )
        return [(row["text"], row["score"]) for row in rows]
