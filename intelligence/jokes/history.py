"""Who heard which joke lately, by joke family (a joke and its rewordings).

Two audiences: each viewer (their last ``RECENT_PER_VIEWER`` jokes, in every channel and on every
instance) and each channel (its last ``joke_window`` jokes within ``joke_window_s``: everyone
there reads every reply). Memory first, filled from SQLite once at start-up (one query per
audience kind, so a new viewer costs no database round trip); Redis adds what other instances
told.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Literal

from cachetools import LRUCache

from intelligence.redis_tier import RedisTier
from intelligence.store import Store

RECENT_PER_VIEWER = 50
MAX_AUDIENCES = 100_000
VIEWER_TTL_S = 30 * 86400
HEARD_PREFIX = "quipbot:v2:heard:"  # Redis lists of "family|epoch", per audience


class _Recent(LRUCache[str, deque[tuple[str, float]]]):
    """Audiences' recent jokes; remembers whether it ever had to forget one."""

    evicted = False

    def popitem(self) -> tuple[str, deque[tuple[str, float]]]:
        self.evicted = True
        return super().popitem()


class Heard:
    """The families one kind of audience heard: keyed by the ``jokes_served`` column
    ``column`` ("viewer" or "channel"), the last ``keep`` of them, none older than ``max_age_s``."""

    def __init__(
        self,
        store: Store,
        redis: RedisTier | None,
        *,
        column: Literal["viewer", "channel"],
        keep: int,
        max_age_s: float = VIEWER_TTL_S,
    ) -> None:
        self._store = store
        self._redis = redis
        self.column = column
        self.keep = keep
        self.max_age_s = max_age_s
        self._recent = _Recent(MAX_AUDIENCES)

    async def load(self) -> None:
        """Every audience's recent jokes, in one query (at start-up)."""
        rows = await self._store.fetch(
            f"SELECT {self.column}, family, at FROM (SELECT {self.column}, family, at, "
            f"ROW_NUMBER() OVER (PARTITION BY {self.column} ORDER BY at DESC) AS newest "
            f"FROM jokes_served WHERE at >= ?) WHERE newest <= ? ORDER BY at",
            (time.time() - self.max_age_s, self.keep),
        )
        for audience, family, at in rows:
            recent = self._recent.get(audience)
            if recent is None:
                recent = self._recent[audience] = deque(maxlen=self.keep)
            recent.append((family, at))

    def least_recent(self, audience: str, families: list[str]) -> str:
        """Of ``families``, the one ``audience`` heard longest ago (or never, here)."""
        order = {family: i for i, (family, _) in enumerate(self._recent.get(audience, ()))}
        return min(families, key=lambda family: order.get(family, -1))

    async def _local(self, audience: str) -> deque[tuple[str, float]]:
        recent = self._recent.get(audience)
        if recent is None:
            found: list[tuple[str, float]] = []
            if self._recent.evicted:  # this audience may have been forgotten: ask the database
                rows = await self._store.fetch(
                    f"SELECT family, at FROM jokes_served WHERE {self.column} = ? AND at >= ? "
                    "ORDER BY at DESC LIMIT ?",
                    (audience, time.time() - self.max_age_s, self.keep),
                )
                found = [(row[0], row[1]) for row in reversed(rows)]
            recent = self._recent[audience] = deque(found, maxlen=self.keep)
        return recent

    def _redis_key(self, audience: str) -> str:
        return f"{HEARD_PREFIX}{self.column}:{audience}"

    async def families(self, audience: str) -> set[str]:
        """The families ``audience`` heard within the window, on every instance."""
        since = time.time() - self.max_age_s
        heard = {family for family, at in await self._local(audience) if at >= since}
        if self._redis is not None:
            shared = await self._redis.recent(self._redis_key(audience), self.keep) or ()
            for entry in shared:
                family, _, at = entry.rpartition("|")
                if family and float(at or 0) >= since:
                    heard.add(family)
        return heard

    def families_here(self, audience: str) -> set[str]:
        """What this instance knows without waiting (for background decisions)."""
        since = time.time() - self.max_age_s
        return {family for family, at in self._recent.get(audience, ()) if at >= since}

    def note(self, audience: str, family: str, at: float) -> None:
        """Remember at once, without waiting: a request that is picking a joke at this very
        moment must see it (see ``JokeService.next_for``)."""
        recent = self._recent.get(audience)
        if recent is None:
            recent = self._recent[audience] = deque(maxlen=self.keep)
        recent.append((family, at))

    async def share(self, audience: str, family: str, at: float) -> None:
        """Tell the other instances."""
        if self._redis is not None:
            await self._redis.push_recent(
                self._redis_key(audience), f"{family}|{at:.0f}", self.keep, self.max_age_s
            )
