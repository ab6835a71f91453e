"""!joke: a fresh joke for every viewer, at cache speed, with few LLM calls.

The first version keyed a cache by ``{prompt}_{user}_v{count//3}_{int(time/300)}`` plus a random
style, so hits were rare and a viewer could get the same joke twice. Here the same mechanisms
serve their purpose instead:

- one shared **pool** of recent jokes (TTL ``cache.joke_ttl_s``, at most ``cache.joke_max``,
  cleaned down to 80 % by least recent use); a joke made for one viewer serves every viewer who
  has not had it;
- each viewer's **history** of their last 50 jokes (memory, SQLite across restarts, Redis across
  instances), keyed by the platform's stable user id: never a joke from it again;
- the **session counter** and its **variant windows** (every 3 jokes, every ``joke_ttl_s``)
  rotate the viewer's **style**, which only weighs the choice and shapes what is generated, so
  styles never split the pool into misses; a lookup does not advance the counter, a served
  joke does;
- the pool **refills in the background** when an active viewer runs low on unseen jokes, a batch
  of jokes per LLM call, bounded by the demand of the last minutes; an idle channel costs
  nothing. Well-rated jokes from the archive come back first, badly rated ones retire.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from intelligence.cache import RedisTier
from intelligence.joke_text import joke_key, split_jokes
from intelligence.llm import ChatRequest
from intelligence.offline import Language, OfflineJokes
from intelligence.prompts import STYLES, joke_batch_messages
from intelligence.resilience import LLMPool, NoBackendAvailable
from intelligence.safety import Sanitiser
from intelligence.stats import Stats
from intelligence.store import Store

log = logging.getLogger(__name__)

RECENT_PER_VIEWER = 50
MAX_VIEWERS = 100_000
HISTORY_TTL_S = 30 * 86400
HISTORY_PREFIX = "quipbot:v1:seen:"  # Redis lists of what each viewer got, shared by instances
POOL_PREFIX = "quipbot:v1:jokes:"  # Redis sets of fresh LLM jokes, so instances share one pool
DEMAND_WINDOW_S = 300.0  # "recent demand": who asked for jokes in the last 5 minutes
LOW_WATER = 5  # unseen jokes every active viewer should have waiting
MAX_CHECKED_VIEWERS = 200
JOKES_PER_CALL = 5
RECYCLED_PER_REFILL = 3
RETIRE_AT = -3  # a joke whose votes sum to this is never served again
CLEANUP_TO = 0.8


@dataclass(slots=True)
class PoolJoke:
    key: str
    text: str
    style: str
    created_at: float
    score: int = 0


@dataclass(frozen=True, slots=True)
class Joke:
    text: str
    source: str  # l1 (the pool), llm (made while the viewer waited), fallback (offline)
    key: str


@dataclass(frozen=True, slots=True)
class Vote:
    text: str
    score: int
    retired: bool


class _Recent(LRUCache):
    """Viewers' recent jokes; remembers whether it ever had to forget one."""

    evicted = False

    def popitem(self) -> tuple[str, deque[str]]:
        self.evicted = True
        return super().popitem()


class ServedHistory:
    """The jokes each viewer got lately. Memory first, filled from SQLite once at start-up (one
    query, so a new viewer costs no database round trip); Redis adds what other instances
    served."""

    def __init__(self, store: Store, redis: RedisTier | None) -> None:
        self._store = store
        self._redis = redis
        self._recent: _Recent = _Recent(MAX_VIEWERS)
        self._loaded: asyncio.Task[None] | None = None

    def _redis_key(self, viewer: str) -> str:
        return HISTORY_PREFIX + viewer

    async def _load(self) -> None:
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
        if self._loaded is None:
            self._loaded = asyncio.get_running_loop().create_task(self._load())
        await asyncio.shield(self._loaded)
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


class JokeService:
    def __init__(
        self,
        *,
        language: Language,
        persona: str,
        ttl_s: float,
        max_jokes: int,
        pool: LLMPool,
        store: Store,
        redis: RedisTier | None,
        stats: Stats,
        sanitiser: Sanitiser,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.language = language
        self.persona = persona
        self.ttl_s = ttl_s
        self.max_jokes = max_jokes
        self.offline = OfflineJokes(language)
        self.llm = pool
        self.store = store
        self.stats = stats
        self.sanitiser = sanitiser
        self.history = ServedHistory(store, redis)
        self.redis = redis
        self._clock = clock
        self._rng = rng or random.Random()
        self._pool: OrderedDict[str, PoolJoke] = OrderedDict()  # least recently used first
        self._demand: deque[tuple[float, str]] = deque()
        self._served_count: LRUCache[str, int] = LRUCache(MAX_VIEWERS)  # the session counter
        self._channel_last: LRUCache[str, str] = LRUCache(10_000)
        self._retired: set[str] | None = None  # loaded from SQLite on first use
        self._refill: asyncio.Task[None] | None = None

    # -- serving --------------------------------------------------------------------------

    def style_for(self, viewer: str) -> str:
        """The viewer's style for this variant window: it changes every 3 jokes they get and
        every ``joke_ttl_s`` seconds."""
        window = (self._served_count.get(viewer, 0) // 3, int(self._clock() // self.ttl_s))
        digest = hashlib.blake2b(f"{viewer}|{window}".encode(), digest_size=4).digest()
        styles = STYLES[self.language]
        return styles[int.from_bytes(digest) % len(styles)]

    async def next_for(self, viewer: str, channel: str) -> Joke:
        """A joke ``viewer`` did not get among their last 50, and not the one this channel just
        heard (Twitch drops a message identical to one sent within 30 s)."""
        now = self._clock()
        self._note_demand(now, viewer)
        self._expire(now)
        avoid = await self.history.seen(viewer)
        if last := self._channel_last.get(channel):
            avoid.add(last)
        style = self.style_for(viewer)
        joke, source = self._pick(avoid, style), "l1"
        if joke is None and self.llm.available():
            await self._refill_wait()  # a cold pool waits for the LLM rather than go offline
            joke, source = self._pick(avoid, style), "llm"
        if joke is None:
            joke, source = self._offline(viewer, avoid), "fallback"
        else:
            self._pool.move_to_end(joke.key)
        await self.history.record(viewer, joke.key, channel)
        self._served_count[viewer] = self._served_count.get(viewer, 0) + 1
        self._channel_last[channel] = joke.key
        if source == "l1":
            self.stats.record_saved(0)
        self._refill_in_background()
        return Joke(joke.text, source, joke.key)

    def _pick(self, avoid: set[str], style: str) -> PoolJoke | None:
        candidates = [j for j in self._pool.values() if j.key not in avoid]
        if not candidates:
            return None
        # Well-rated jokes come back more often; the viewer's style is preferred, not required.
        weights = [(1 + max(0, j.score)) * (3 if j.style == style else 1) for j in candidates]
        return self._rng.choices(candidates, weights)[0]

    def _offline(self, viewer: str, avoid: set[str]) -> PoolJoke:
        # Viewers start their walk through the offline shapes at different places, so a busy
        # channel does not hear the same shape from everyone.
        start = int.from_bytes(hashlib.blake2b(viewer.encode(), digest_size=2).digest())
        turn = start + self._served_count.get(viewer, 0)
        for attempt in range(100):
            text = self.offline.joke(self.offline.pick(turn + attempt // 10, self._rng))
            key = joke_key(text)
            if key not in avoid:
                break
        self._archive(key, text, "", "offline")
        return PoolJoke(key, text, "", self._clock())

    # -- the pool -------------------------------------------------------------------------

    def pool_size(self) -> int:
        return len(self._pool)

    def _note_demand(self, now: float, viewer: str) -> None:
        self._demand.append((now, viewer))
        while self._demand and now - self._demand[0][0] > DEMAND_WINDOW_S:
            self._demand.popleft()

    def _expire(self, now: float) -> None:
        for key in [k for k, j in self._pool.items() if now - j.created_at >= self.ttl_s]:
            del self._pool[key]

    def _add(self, joke: PoolJoke) -> None:
        self._pool[joke.key] = joke
        if len(self._pool) > self.max_jokes:  # LRU cleanup: keep the 80 % used most recently
            while len(self._pool) > int(self.max_jokes * CLEANUP_TO):
                self._pool.popitem(last=False)

    def _needs_refill(self) -> bool:
        """Does an active viewer have fewer than LOW_WATER unseen jokes that will outlive the
        next minute? No demand in the window (an idle channel) means no."""
        now = self._clock()
        lasting = [j.key for j in self._pool.values() if now - j.created_at < self.ttl_s - 60]
        active = list(dict.fromkeys(v for _, v in reversed(self._demand)))[:MAX_CHECKED_VIEWERS]
        for viewer in active:
            seen = self.history.seen_here(viewer)
            if sum(key not in seen for key in lasting) < LOW_WATER:
                return True
        return False

    def _refill_in_background(self) -> None:
        if self._refill is None and self.llm.available() and self._needs_refill():
            self._start_refill()

    async def _refill_wait(self) -> None:
        await asyncio.shield(self._refill or self._start_refill())

    def _start_refill(self) -> asyncio.Task[None]:
        """One refill at a time; it forgets itself when done."""
        self._refill = asyncio.get_running_loop().create_task(self._fill())
        self._refill.add_done_callback(lambda _: setattr(self, "_refill", None))
        return self._refill

    async def _fill(self) -> None:
        """One refill: jokes other instances made, then well-rated ones from the archive, and
        only then one LLM call for a batch."""
        try:
            if await self._from_other_instances() and not self._needs_refill():
                return
            if await self._recycle() and not self._needs_refill():
                return
            await self._generate()
        except NoBackendAvailable:
            log.info("no LLM for the joke pool: viewers get offline jokes meanwhile")
        except Exception:
            log.exception("joke pool refill failed")

    def _shared_pool_key(self) -> str:
        scope = f"{self.language}|{self.llm.model}|{self.persona}"
        return POOL_PREFIX + hashlib.blake2b(scope.encode(), digest_size=8).hexdigest()

    async def _from_other_instances(self) -> int:
        if self.redis is None:
            return 0
        now, added = self._clock(), 0
        retired = await self._retired_keys()
        for value, age in await self.redis.fresh(self._shared_pool_key(), self.ttl_s):
            joke = json.loads(value)
            if joke["key"] not in self._pool and joke["key"] not in retired:
                self._add(PoolJoke(joke["key"], joke["text"], joke["style"], now - age))
                added += 1
        return added

    async def _recycle(self) -> int:
        rows = await self.store.fetch(
            "SELECT key, text, style, score FROM jokes WHERE language = ? AND source = 'llm' "
            "AND retired = 0 AND score > 0 ORDER BY score DESC, created_at DESC LIMIT 30",
            (self.language,),
        )
        now, added = self._clock(), 0
        for row in rows:
            if row["key"] not in self._pool and added < RECYCLED_PER_REFILL:
                self._add(PoolJoke(row["key"], row["text"], row["style"], now, row["score"]))
                added += 1
        return added

    async def _generate(self) -> None:
        styles = self._rng.sample(STYLES[self.language], JOKES_PER_CALL)
        request = ChatRequest(
            joke_batch_messages(self.persona, self.language, styles),
            max_tokens=60 * JOKES_PER_CALL,
            temperature=1.0,
        )
        completion = await self.llm.complete(request)
        retired = await self._retired_keys()
        now, made = self._clock(), []
        for text in split_jokes("\n".join(completion.texts), self.language, self.sanitiser):
            key = joke_key(text)
            if key in retired or key in self._pool:
                continue
            style = styles[len(made) % len(styles)]
            self._add(PoolJoke(key, text, style, now))
            self._archive(key, text, style, "llm")
            made.append(json.dumps({"key": key, "text": text, "style": style}))
        if self.redis is not None and made:
            await self.redis.add_fresh(self._shared_pool_key(), made, self.ttl_s)
        log.info("joke pool: +%d jokes from the LLM, %d in the pool", len(made), len(self._pool))

    def _archive(self, key: str, text: str, style: str, source: str) -> None:
        self.store.write(
            "INSERT OR IGNORE INTO jokes (key, text, language, style, source, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key, text, self.language, style, source, time.time()),
        )

    async def _retired_keys(self) -> set[str]:
        if self._retired is None:
            rows = await self.store.fetch("SELECT key FROM jokes WHERE retired = 1")
            self._retired = {row[0] for row in rows}
        return self._retired

    # -- votes ----------------------------------------------------------------------------

    async def vote(self, viewer: str, value: int, key: str | None = None) -> Vote | None:
        """+1 or -1 for ``key``, or for the last joke the viewer got. A second vote replaces
        the first. None when there is no such joke."""
        key = key or await self.history.latest(viewer)
        if key is None:
            return None
        await self.store.flush()  # the joke's archive row may still be queued
        rows = await self.store.fetch("SELECT text FROM jokes WHERE key = ?", (key,))
        if not rows:
            return None
        self.store.write(
            "INSERT INTO votes (viewer, joke_key, value, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (viewer, joke_key) DO UPDATE SET value = excluded.value, at = excluded.at",
            (viewer, key, value, time.time()),
        )
        self.store.write(
            "UPDATE jokes SET score = (SELECT COALESCE(SUM(value), 0) FROM votes "
            "WHERE joke_key = ?1), retired = ((SELECT COALESCE(SUM(value), 0) FROM votes "
            "WHERE joke_key = ?1) <= ?2) WHERE key = ?1",
            (key, RETIRE_AT),
        )
        await self.store.flush()
        [row] = await self.store.fetch("SELECT score, retired FROM jokes WHERE key = ?", (key,))
        score, retired = row["score"], bool(row["retired"])
        if key in self._pool:
            self._pool[key].score = score
        if retired:
            self._pool.pop(key, None)
            (await self._retired_keys()).add(key)
        return Vote(rows[0]["text"], score, retired)

    async def top(self, count: int = 3) -> list[tuple[str, int]]:
        rows = await self.store.fetch(
            "SELECT text, score FROM jokes WHERE language = ? AND retired = 0 AND score > 0 "
            "ORDER BY score DESC, created_at DESC LIMIT ?",
            (self.language, count),
        )
        return [(row["text"], row["score"]) for row in rows]

    async def aclose(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            await asyncio.gather(self._refill, return_exceptions=True)
