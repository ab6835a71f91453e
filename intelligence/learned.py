"""Learned answers: a question asked ``LEARN_AFTER`` times within the TTL (exactly, or as a guarded
fuzzy match, on any instance sharing Redis) has its answer pinned. A learned answer is served as
an l1 hit past any TTL, survives restarts (SQLite), and goes only when a moderator ``!forget``s it.

This class is their one owner: the counts, the pinned entries, their fuzzy index and their rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from cachetools import TTLCache

from intelligence.entries import Entry, namespace_of
from intelligence.fuzzy import FuzzyIndex, FuzzyMatch, Question, analyse
from intelligence.redis_tier import RedisTier
from intelligence.store import Store

log = logging.getLogger(__name__)

LEARN_AFTER = 3  # asks within the TTL before an answer is pinned
ASKED_PREFIX = "quipbot:v1:asked:"  # Redis counters of asks per question, shared by instances
MAX_COUNTED = 100_000  # questions whose asks are counted at once (the oldest go first)


class LearnedAnswers:
    def __init__(
        self,
        *,
        store: Store,
        redis: RedisTier | None,
        ttl_s: float,
        fuzzy_threshold: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._redis = redis
        self._ttl_s = ttl_s
        self._entries: dict[str, Entry] = {}
        # Read on every cache lookup: the dict's own get, without a Python frame around it.
        self.get: Callable[[str], Entry | None] = self._entries.get
        self._index = FuzzyIndex(fuzzy_threshold)
        self._asked: TTLCache[str, int] = TTLCache(MAX_COUNTED, ttl_s, timer=clock)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def find(
        self, namespace: str, prompt: str, question: Question | None = None
    ) -> FuzzyMatch | None:
        return self._index.find(namespace, prompt, question)

    async def load(self) -> None:
        """Pin what earlier runs learned (at start-up)."""
        for row in await self._store.fetch("SELECT * FROM learned"):
            entry = Entry(
                row["answer"], row["prompt"], self._ttl_s, row["tokens_in"], row["tokens_out"]
            )
            self._pin(row["key"], entry)

    async def count(self, key: str, entry: Entry | None) -> None:
        """One more ask of ``key`` (``entry``: its cached answer, None on a miss). The ask that
        reaches LEARN_AFTER pins the answer."""
        if key in self._entries:
            return  # learned already: no count to keep, no Redis round trip per hit
        count = self._asked.get(key, 0) + 1
        self._asked[key] = count
        if self._redis is not None:
            shared = await self._redis.count(f"{ASKED_PREFIX}{key}", self._ttl_s)
            count = shared if shared is not None else count
        if (
            count >= LEARN_AFTER
            and entry is not None
            and not analyse(entry.prompt).time_sensitive  # today's answer is wrong tomorrow
        ):
            self._pin(key, entry)
            self._store.write(
                "INSERT OR REPLACE INTO learned (key, prompt, answer, tokens_in, tokens_out, "
                "pinned_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key, entry.prompt, entry.text, entry.tokens_in, entry.tokens_out, time.time()),
            )
            await self._store.flush()  # committed before the answer goes out as learned
            log.info("learned the answer to %r (asked %d times)", entry.prompt, count)

    async def forget(self, key: str) -> Entry | None:
        """Unpin ``key`` everywhere (memory, SQLite, the shared count); its entry, or None."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self._index.discard(namespace_of(key), key)
        self._store.write("DELETE FROM learned WHERE key = ?", (key,))
        await self._store.flush()  # forgotten for good before the moderator hears so
        self._asked.pop(key, None)
        if self._redis is not None:
            await self._redis.delete(ASKED_PREFIX + key)
        return entry

    def _pin(self, key: str, entry: Entry) -> None:
        self._entries[key] = entry
        self._index.add(namespace_of(key), key, entry.prompt)
