"""The tiered answer cache: L1 memory (LRU + TTL, learned answers first) → L2 Redis (TTL, shared)
→ L3 guarded fuzzy.

Every lookup says which tier served it. A hit in L2 or L3 is promoted to L1.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cachetools import TLRUCache

from intelligence.entries import Entry, Scope, entry_key, namespace_of
from intelligence.fuzzy import FuzzyIndex, FuzzyMatch, analyse
from intelligence.learned import LearnedAnswers
from intelligence.redis_tier import RedisTier
from intelligence.sources import Source, Tier
from intelligence.stats import Stats

log = logging.getLogger(__name__)

REDIS_PREFIX = "quipbot:v1:c:"  # cached answers; !cacheclear removes these only


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    tier: Tier
    key: str  # the entry that answered (for a fuzzy hit, the matched question's)
    score: float | None = None  # the fuzzy score


class TieredCache:
    def __init__(
        self,
        *,
        l1_max: int,
        fuzzy_threshold: float,
        stats: Stats,
        redis: RedisTier | None = None,
        learned: LearnedAnswers | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stats = stats
        self.redis = redis
        self.learned = learned
        self.l1: TLRUCache[str, Entry] = TLRUCache(
            l1_max, ttu=lambda _key, entry, now: now + entry.ttl_s, timer=clock
        )
        self.fuzzy = FuzzyIndex(fuzzy_threshold)

    def sizes(self) -> dict[str, int]:
        self.l1.expire()
        pinned = len(self.learned) if self.learned is not None else 0
        return {"l1": len(self.l1), "fuzzy": len(self.fuzzy), "pinned": pinned}

    def find_key(self, scope: Scope, prompt: str) -> str | None:
        """The key of the entry a prompt would hit, exactly or by a guarded fuzzy match."""
        key = entry_key(scope, prompt)
        if self._memory(key) is not None:
            return key
        match = self._closest(scope.namespace, prompt)
        return match.key if match is not None else None

    async def get(self, scope: Scope, prompt: str, *, fuzzy: bool = True) -> Hit | None:
        key = entry_key(scope, prompt)
        hit = await self._exact(key)
        if hit is not None or not fuzzy:
            return hit
        match = self._closest(scope.namespace, prompt)
        if match is None:
            self.stats.record_tier(Source.FUZZY, hit=False)
            return None
        found = self._memory(match.key) or await self._from_redis(match.key, count=False)
        if found is None:  # expired since it was indexed
            self.fuzzy.discard(scope.namespace, match.key)
            self.stats.record_tier(Source.FUZZY, hit=False)
            return None
        self.stats.record_tier(Source.FUZZY, hit=True)
        self.l1[key] = found  # the paraphrase itself now hits L1
        return Hit(found, Source.FUZZY, match.key, match.score)

    async def put(self, scope: Scope, prompt: str, entry: Entry) -> None:
        key = entry_key(scope, prompt)
        self.l1[key] = entry
        self.fuzzy.add(scope.namespace, key, prompt)
        if self.redis is not None:
            await self.redis.set(REDIS_PREFIX + key, json.dumps(asdict(entry)), entry.ttl_s)

    async def evict(self, key: str) -> None:
        """Drop one entry from every tier (not from the learned answers: they have their owner)."""
        self.l1.pop(key, None)
        self.fuzzy.discard(namespace_of(key), key)
        if self.redis is not None:
            await self.redis.delete(REDIS_PREFIX + key)

    async def forget(self, key: str) -> Entry | None:
        """Unpin a learned answer and drop it from every tier: asked again, it is made afresh.
        Its entry, or None when ``key`` was not learned."""
        entry = await self.learned.forget(key) if self.learned is not None else None
        if entry is not None:
            await self.evict(key)
        return entry

    async def clear(self) -> int:
        """Empty L1, L3, and this bot's keys in L2. Returns how many entries went. Learned
        answers stay: !forget removes those one by one."""
        removed = len(self.l1)
        self.l1.clear()
        self.fuzzy.clear()
        if self.redis is not None:
            removed += await self.redis.delete_prefix(REDIS_PREFIX)
        return removed

    def _memory(self, key: str) -> Entry | None:
        learned = self.learned.get(key) if self.learned is not None else None
        return learned or self.l1.get(key)

    def _closest(self, namespace: str, prompt: str) -> FuzzyMatch | None:
        question = analyse(prompt)
        matches = [self.fuzzy.find(namespace, prompt, question)]
        if self.learned is not None:
            matches.append(self.learned.find(namespace, prompt, question))
        found = [m for m in matches if m is not None]
        return max(found, key=lambda m: m.score, default=None)

    async def _exact(self, key: str) -> Hit | None:
        entry = (self.learned is not None and self.learned.get(key)) or self.l1.get(key)
        self.stats.record_tier(Source.L1, hit=entry is not None)
        if entry is not None:
            return Hit(entry, Source.L1, key)
        if self.redis is None:
            return None
        entry = await self._from_redis(key, count=True)
        return Hit(entry, Source.L2, key) if entry is not None else None

    async def _from_redis(self, key: str, *, count: bool) -> Entry | None:
        if self.redis is None:
            return None
        raw = await self.redis.get(REDIS_PREFIX + key)
        entry = _decode(raw) if raw is not None else None
        if count:
            self.stats.record_tier(Source.L2, hit=entry is not None)
        if entry is not None:
            self.l1[key] = entry
            self.fuzzy.add(namespace_of(key), key, entry.prompt)
        return entry


def _decode(raw: bytes) -> Entry | None:
    try:
        return Entry(**json.loads(raw))
    except (ValueError, TypeError):
        log.warning("ignored a malformed cache entry in Redis")
        return None
