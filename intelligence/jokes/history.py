"""The jokes each viewer got lately: never one of their last ``RECENT_PER_VIEWER`` again.

Memory first, filled from SQLite once at start-up (one query, so a new viewer costs no database
round trip); Redis adds what other instances served.
"""

from __future__ import annotations

import time
from collections import deque

from cachetools import LRUCache

from intelligence.redis_tier import RedisTier
from intelligence.store import Store

RECENT_PER_VIEWER = 50
MAX_VIEWERS = 100_000
HISTORY_TTL_S = 30 * 86400
HISTORY_PREFIX = "quipbot:v1:seen:"  # Redis lists of what each viewer got, shared by instances


class _Recent(LRUCache[str, deque[str]]):
    """Viewers' recent jokes; remembers whether it ever had to forget one."""

    evicted = False

    def popitem(self) -> tuple[str, deque[str]]:
        self.evicted = True
        return super().popitem()


class ServedHistory:
    def __init__(self, store: Store, redis: RedisTier | None) -> None:
        self._store = store
        self._redis = redis
        self._recent = _Recent(MAX_VIEWERS)

    async def load(self) -> None:
        """Every viewer's recent jokes, in one query (at start-up)."""
        rows = await self._store.fetch(
            "SELECT viewer, joke_key FROM (SELECT viewer, joke_key, at, ROW_NUMBER() OVER "
            "(PARTITION BY viewer ORDER BY at DESC) AS newest FROM jokes_served) "
            "WHERE newest <= ? ORDER BY at",
            (RECENT_PER_VIEWER,),
        )
        for viewer, key in rows:
            recent = self._recent.get(viewer)
            if recent is None:
                recent = self._recent[viewer] = deque(maxlen=RECENT_PER_VIEWER)
            recent.append(key)
        # Older rows can never matter again: keep the table as small as the guarantee.
        self._store.write(
            "DELETE FROM jokes_served WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
            "ROW_NUMBER() OVER (PARTITION BY viewer ORDER BY at DESC) AS newest "
            "FROM jokes_served) WHERE newest > ?)",
            (RECENT_PER_VIEWER,),
        )

    async def _local(self, viewer: str) -> deque[str]:
        recent = self._recent.get(viewer)
        if recent is None:
            keys: list[str] = []
            if self._recent.evicted:  # this viewer may have been forgotten: ask the database
                rows = await self._store.fetch(
                    "SELECT joke_key FROM jokes_served WHERE viewer = ? ORDER BY at DESC LIMIT ?",
                    (viewer, RECENT_PER_VIEWER),
                )
                keys = [row[0] for row in reversed(rows)]
            recent = self._recent[viewer] = deque(keys, maxlen=RECENT_PER_VIEWER)
        return recent

    def _redis_key(self, viewer: str) -> str:
        return HISTORY_PREFIX + viewer

    async def seen(self, viewer: str) -> set[str]:
        seen = set(await self._local(viewer))
        if self._redis is not None:
            seen.update(await self._redis.recent(self._redis_key(viewer), RECENT_PER_VIEWER) or ())
        return seen

    def seen_here(self, viewer: str) -> set[str]:
        """What this instance knows without waiting (for background decisions)."""
        return set(self._recent.get(viewer, ()))

    async def latest(self, viewer: str) -> str | None:
        if self._redis is not None:
            shared = await self._redis.recent(self._redis_key(viewer), 1)
            if shared:
                return shared[0]
        local = await self._local(viewer)
        return local[-1] if local else None

    async def record(self, viewer: str, key: str, channel: str) -> None:
        (await self._local(viewer)).append(key)
        self._store.write(
            "INSERT INTO jokes_served (viewer, joke_key, channel, at) VALUES (?, ?, ?, ?)",
            (viewer, key, channel, time.time()),
        )
        if self._redis is not None:
            await self._redis.push_recent(
                self._redis_key(viewer), key, RECENT_PER_VIEWER, HISTORY_TTL_S
            )
