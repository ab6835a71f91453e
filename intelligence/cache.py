"""The tiered answer cache: L1 memory (LRU + TTL) → L2 Redis (TTL, shared) → L3 guarded fuzzy.

Every lookup says which tier served it. A hit in L2 or L3 is promoted to L1. Keys hold everything
that changes the answer (command, model, persona, language, scope), hashed into a namespace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from cachetools import TLRUCache

from intelligence.fuzzy import FuzzyIndex
from intelligence.stats import Stats

log = logging.getLogger(__name__)

REDIS_PREFIX = "quipbot:v1:c:"  # cached answers; !cacheclear removes these only
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scope:
    """What an answer depends on besides the prompt. ``scope`` is "global", or a viewer or
    conversation id for answers that must not be served to anyone else."""

    command: str
    model: str
    persona: str
    language: str
    scope: str = "global"

    @property
    def namespace(self) -> str:
        raw = "\x1f".join((self.command, self.model, self.persona, self.language, self.scope))
        return hashlib.blake2b(raw.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    text: str
    prompt: str
    ttl_s: float
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    tier: str  # l1, l2 or fuzzy
    key: str  # the entry that answered (for a fuzzy hit, the matched question's)
    score: float | None = None  # the fuzzy score


_SPACES = re.compile(r"\s+")
_WORD_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")  # est-ce, not 2-2


def exact_form(prompt: str) -> str:
    """What makes two prompts "the same": case, spacing, hyphens inside words and the final
    punctuation do not count. Anything else (digits, operators) does."""
    text = unicodedata.normalize("NFKC", prompt).casefold().replace("’", "'")
    text = _WORD_HYPHEN.sub(" ", text)
    return _SPACES.sub(" ", text).strip().rstrip("?!.…。 ")


def entry_key(scope: Scope, prompt: str) -> str:
    digest = hashlib.blake2b(exact_form(prompt).encode(), digest_size=12).hexdigest()
    return f"{scope.namespace}:{digest}"


def namespace_of(key: str) -> str:
    """The scope's namespace an entry key starts with."""
    return key.partition(":")[0]


class TieredCache:
    def __init__(
        self,
        *,
        l1_max: int,
        fuzzy_threshold: float,
        stats: Stats,
        redis: RedisTier | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stats = stats
        self.redis = redis
        self.l1: TLRUCache[str, Entry] = TLRUCache(
            l1_max, ttu=lambda _key, entry, now: now + entry.ttl_s, timer=clock
        )
        self.fuzzy = FuzzyIndex(fuzzy_threshold)
        # Learned answers: pinned in memory for good (and in SQLite by their owner), served
        # as l1 hits, past any TTL.
        self.pinned: dict[str, Entry] = {}

    def sizes(self) -> dict[str, int]:
        self.l1.expire()
        return {"l1": len(self.l1), "fuzzy": len(self.fuzzy), "pinned": len(self.pinned)}

    def pin(self, key: str, entry: Entry) -> None:
        self.pinned[key] = entry
        self.fuzzy.add(namespace_of(key), key, entry.prompt)

    async def unpin(self, key: str) -> Entry | None:
        """Forget a learned answer everywhere, so the next ask goes to the LLM again."""
        entry = self.pinned.pop(key, None)
        self.l1.pop(key, None)
        self.fuzzy.discard(namespace_of(key), key)
        if self.redis is not None:
            await self.redis.delete(REDIS_PREFIX + key)
        return entry

    def find_key(self, scope: Scope, prompt: str) -> str | None:
        """The key of the entry a prompt would hit, exactly or by a guarded fuzzy match."""
        key = entry_key(scope, prompt)
        if key in self.pinned or key in self.l1:
            return key
        match = self.fuzzy.find(scope.namespace, prompt)
        return match.key if match is not None else None

    async def get(self, scope: Scope, prompt: str, *, fuzzy: bool = True) -> Hit | None:
        key = entry_key(scope, prompt)
        hit = await self._exact(key)
        if hit is not None or not fuzzy:
            return hit
        match = self.fuzzy.find(scope.namespace, prompt)
        if match is None:
            self.stats.record_tier("fuzzy", hit=False)
            return None
        found = (
            self.pinned.get(match.key)
            or self.l1.get(match.key)
            or await self._from_redis(match.key, count=False)
        )
        if found is None:  # expired since it was indexed
            self.fuzzy.discard(scope.namespace, match.key)
            self.stats.record_tier("fuzzy", hit=False)
            return None
        self.stats.record_tier("fuzzy", hit=True)
        self.l1[key] = found  # the paraphrase itself now hits L1
        return Hit(found, "fuzzy", match.key, match.score)

    async def put(self, scope: Scope, prompt: str, entry: Entry) -> None:
        key = entry_key(scope, prompt)
        self.l1[key] = entry
        self.fuzzy.add(scope.namespace, key, prompt)
        if self.redis is not None:
            await self.redis.set(REDIS_PREFIX + key, json.dumps(asdict(entry)), entry.ttl_s)

    async def clear(self) -> int:
        """Empty L1, L3, and this bot's keys in L2. Returns how many entries went. Learned
        answers stay: !forget removes those one by one."""
        removed = len(self.l1)
        self.l1.clear()
        self.fuzzy.clear()
        for key, entry in self.pinned.items():
            self.fuzzy.add(namespace_of(key), key, entry.prompt)
        if self.redis is not None:
            removed += await self.redis.delete_prefix(REDIS_PREFIX)
        return removed

    async def _exact(self, key: str) -> Hit | None:
        entry = self.pinned.get(key) or self.l1.get(key)
        self.stats.record_tier("l1", hit=entry is not None)
        if entry is not None:
            return Hit(entry, "l1", key)
        if self.redis is None:
            return None
        entry = await self._from_redis(key, count=True)
        return Hit(entry, "l2", key) if entry is not None else None

    async def _from_redis(self, key: str, *, count: bool) -> Entry | None:
        if self.redis is None:
            return None
        raw = await self.redis.get(REDIS_PREFIX + key)
        entry = _decode(raw) if raw is not None else None
        if count:
            self.stats.record_tier("l2", hit=entry is not None)
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


class RedisTier:
    """Redis that may go away. Short timeouts so a hung server cannot stall chat; when it fails,
    the cache runs on L1 alone, says so once, and tries again every ``retry_s``."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.25,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from redis.asyncio import Redis  # imported only when Redis is configured

        self.url = url
        self._client = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._retry_s = retry_s
        self._clock = clock
        self._down_until: float | None = None

    @property
    def up(self) -> bool:
        return self._down_until is None

    async def get(self, key: str) -> bytes | None:
        return await self._call(lambda: self._client.get(key))

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        await self._call(lambda: self._client.set(key, value, px=max(1, int(ttl_s * 1000))))

    async def push_recent(self, key: str, value: str, keep: int, ttl_s: float) -> None:
        """Keep the ``keep`` newest values of a list, e.g. the jokes a viewer got lately."""

        async def push() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.lpush(key, value).ltrim(key, 0, keep - 1).expire(key, int(ttl_s))
                await pipe.execute()

        await self._call(push)

    async def add_fresh(self, key: str, values: list[str], ttl_s: float) -> None:
        """Add values to a set of recent ones, each forgotten ``ttl_s`` after it was added."""
        now = time.time()

        async def add() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zadd(key, dict.fromkeys(values, now))
                pipe.zremrangebyscore(key, "-inf", now - ttl_s)
                pipe.expire(key, max(1, int(ttl_s)))
                await pipe.execute()

        await self._call(add)

    async def fresh(self, key: str, ttl_s: float) -> list[tuple[str, float]]:
        """Such a set's values added in the last ``ttl_s``, with their age in seconds."""
        now = time.time()
        found = await self._call(
            lambda: self._client.zrangebyscore(key, now - ttl_s, "+inf", withscores=True)
        )
        return [(value.decode(), now - added) for value, added in found or ()]

    async def count(self, key: str, ttl_s: float) -> int | None:
        """Add one to a counter that lives ``ttl_s`` from its first count; None when down."""

        async def incr() -> int:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(key).expire(key, max(1, int(ttl_s)), nx=True)
                value, _ = await pipe.execute()
            return int(value)

        return await self._call(incr)

    async def recent(self, key: str, count: int) -> list[str] | None:
        """The newest values of such a list; None when Redis is down."""
        values = await self._call(lambda: self._client.lrange(key, 0, count - 1))
        return None if values is None else [v.decode() for v in values]

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._client.delete(key))

    async def ping(self) -> bool:
        return bool(await self._call(self._client.ping))

    async def delete_prefix(self, prefix: str) -> int:
        async def scan_and_unlink() -> int:
            removed = 0
            batch: list[bytes] = []
            async for key in self._client.scan_iter(match=prefix + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    removed += await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self._client.unlink(*batch)
            return removed

        return await self._call(scan_and_unlink) or 0

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T | None:
        from redis.exceptions import RedisError

        if self._down_until is not None and self._clock() < self._down_until:
            return None
        try:
            result = await operation()
        except (RedisError, OSError, TimeoutError) as exc:
            if self._down_until is None:
                log.warning(
                    "Redis at %s is unreachable (%s); running on the memory cache until it is back",
                    redacted_url(self.url),
                    exc,
                )
            self._down_until = self._clock() + self._retry_s
            return None
        if self._down_until is not None:
            log.info(
                "Redis at %s is back; the shared cache is in use again", redacted_url(self.url)
            )
            self._down_until = None
        return result

    async def aclose(self) -> None:
        await self._client.aclose()


def redacted_url(url: str) -> str:
    """redis://user:secret@host → redis://user:***@host."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
