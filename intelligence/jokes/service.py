"""!joke: a fresh joke for every viewer and for their whole channel, at cache speed, with few
LLM calls.

- one shared **pool** of recent jokes (``pool``); a joke made for one channel serves every
  channel and viewer that has not heard it;
- freshness by **family** (a joke and its rewordings, ``similar``), for two audiences
  (``history``): a viewer never hears a joke again among their last 50, anywhere, and a channel
  never among its last ``joke_window`` within ``joke_window_s``;
- the session counter and its **variant windows** (every 3 jokes, every ``joke_ttl_s``) rotate the
  viewer's **style**, which only weighs the choice and shapes what is generated;
- the pool **refills in the background** (``refill``): a batch of jokes per LLM call, each one
  through the quality gate, the moderation gate and the rewording check; votes (``archive``)
  bring well-rated jokes back and retire bad ones;
- with no LLM (or a slow one, after ``joke_wait_s``), **offline** jokes follow the same rules: a
  template is one family, whatever its subject.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache, TTLCache

from config.settings import CacheSettings
from intelligence.jokes.archive import JokeArchive, Vote
from intelligence.jokes.history import IDLE_S, MAX_AUDIENCES, RECENT_PER_VIEWER, Heard
from intelligence.jokes.pool import JokePool, PoolJoke
from intelligence.jokes.refill import Refiller
from intelligence.jokes.similar import MAX_KNOWN, Families
from intelligence.jokes.text import joke_key
from intelligence.moderation import Gate
from intelligence.offline import Language, OfflineJokes
from intelligence.prompts import STYLES
from intelligence.redis_tier import RedisTier
from intelligence.resilience import LLMPool
from intelligence.safety import Sanitiser
from intelligence.sources import Source
from intelligence.stats import Stats
from intelligence.store import Store

log = logging.getLogger(__name__)

LAST_PREFIX = "quipbot:v2:last:"  # Redis: the key of the joke a viewer got last, for !vote


@dataclass(frozen=True, slots=True)
class Joke:
    text: str
    source: Source  # l1 (the pool), llm (made while the viewer waited), fallback (offline)
    key: str


class JokeService:
    def __init__(
        self,
        *,
        language: Language,
        persona: str,
        settings: CacheSettings,
        llm: LLMPool,
        store: Store,
        redis: RedisTier | None,
        stats: Stats,
        sanitiser: Sanitiser,
        gate: Gate,
        idle_s: float = IDLE_S,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.language = language
        self.ttl_s = settings.joke_ttl_s
        self.wait_s = settings.joke_wait_s
        self.offline = OfflineJokes(language)
        self.llm = llm
        self.stats = stats
        self._store = store
        self._redis = redis
        self._clock = clock
        self._rng = rng or random.Random()
        self.viewers = Heard(
            store, redis, column="viewer", keep=RECENT_PER_VIEWER, idle_s=idle_s, clock=clock
        )
        self.channels = Heard(
            store,
            redis,
            column="channel",
            keep=settings.joke_window,
            max_age_s=settings.joke_window_s,
            idle_s=idle_s,
            clock=clock,
        )
        self.archive = JokeArchive(store, language)
        self.families = Families()
        self.pool = JokePool(
            ttl_s=settings.joke_ttl_s,
            max_jokes=settings.joke_max,
            redis=redis,
            shared_scope=f"{language}|{llm.model}|{persona}",
            clock=clock,
            rng=self._rng,
        )
        self.refill = Refiller(
            pool=self.pool,
            viewers=self.viewers,
            channels=self.channels,
            archive=self.archive,
            families=self.families,
            llm=llm,
            sanitiser=sanitiser,
            gate=gate,
            stats=stats,
            language=language,
            persona=persona,
            batch=settings.joke_batch,
            clock=clock,
            rng=self._rng,
        )
        # The session counter, and each viewer's last joke (for !vote), while they are active.
        self._served_count: TTLCache[str, int] = TTLCache(MAX_AUDIENCES, idle_s, timer=clock)
        self._last: TTLCache[str, str] = TTLCache(MAX_AUDIENCES, idle_s, timer=clock)
        self._exhausted: LRUCache[str, bool] = LRUCache(1000)  # channels out of offline jokes

    async def start(self) -> None:
        await self.viewers.load()
        await self.channels.load()
        await self.archive.load()
        for row in reversed(await self.archive.recent(MAX_KNOWN)):  # know their rewordings
            self.families.remember(row["key"], row["text"], row["family"])

    async def aclose(self) -> None:
        await self.refill.aclose()

    def prune(self, keep_rows: int) -> None:
        """Forget who heard what once no guarantee needs it (beyond a viewer's last 50 or 30
        days, and beyond the channel's window), and beyond the newest ``keep_rows`` anyway."""
        now = time.time()
        self._store.write(
            "DELETE FROM jokes_served WHERE rowid <= "
            "(SELECT rowid FROM jokes_served ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
            (keep_rows,),
        )
        self._store.write(
            "DELETE FROM jokes_served WHERE rowid IN (SELECT rowid FROM (SELECT rowid, at, "
            "ROW_NUMBER() OVER (PARTITION BY viewer ORDER BY at DESC) AS by_viewer, "
            "ROW_NUMBER() OVER (PARTITION BY channel ORDER BY at DESC) AS by_channel "
            "FROM jokes_served) WHERE (by_viewer > ? OR at < ?) AND (by_channel > ? OR at < ?))",
            (
                self.viewers.keep,
                now - self.viewers.max_age_s,
                self.channels.keep,
                now - self.channels.max_age_s,
            ),
        )

    def style_for(self, viewer: str) -> str:
        """The viewer's style for this variant window: it changes every 3 jokes they get and
        every ``joke_ttl_s`` seconds."""
        window = (self._served_count.get(viewer, 0) // 3, int(self._clock() // self.ttl_s))
        digest = hashlib.blake2b(f"{viewer}|{window}".encode(), digest_size=4).digest()
        styles = STYLES[self.language]
        return styles[int.from_bytes(digest) % len(styles)]

    async def next_for(self, viewer: str, channel: str) -> Joke:
        """A joke neither ``viewer`` (among their last 50, anywhere) nor ``channel`` (within
        its window) heard, in any wording."""
        self.refill.note_demand(viewer, channel)
        self.pool.expire()
        style = self.style_for(viewer)
        joke, source = await self._pick(viewer, channel, style), Source.L1
        if joke is None and self.llm.available():
            await self.refill.now(self.wait_s)
            joke, source = await self._pick(viewer, channel, style), Source.LLM
        if joke is None:
            joke, source = (
                self._offline(await self._heard(viewer, channel), channel),
                Source.FALLBACK,
            )
        await self._record(viewer, channel, joke)
        if source is Source.L1:
            self.stats.record_saved(0)
        self.refill.in_background()
        return Joke(joke.text, source, joke.key)

    async def _pick(self, viewer: str, channel: str, style: str) -> PoolJoke | None:
        return self.pool.pick(await self._heard(viewer, channel), style)

    async def _heard(self, viewer: str, channel: str) -> set[str]:
        await self.viewers.recall(viewer)
        await self.channels.recall(channel)
        shared = await self.viewers.elsewhere(viewer) | await self.channels.elsewhere(channel)
        # From here to ``_record`` nothing awaits: what other requests told while this one
        # waited is in memory, and what this one picks is noted before the next picks.
        return shared.union(
            self.viewers.families_here(viewer), self.channels.families_here(channel)
        )

    def _offline(self, heard: set[str], channel: str) -> PoolJoke:
        family = self.offline.fresh(heard, self._rng)
        if family is None:  # the channel heard every offline joke: the least bad repeat
            if channel not in self._exhausted:  # said once, not on every joke
                self._exhausted[channel] = True
                log.warning("offline jokes: %s heard them all; the oldest come back", channel)
            family = self.channels.least_recent(channel, self.offline.families)
        text = self.offline.tell(family, self._rng)
        key = joke_key(text)
        self.archive.add(key, family, text, "", "offline")
        return PoolJoke(key, family, text, "", self._clock())

    async def _record(self, viewer: str, channel: str, joke: PoolJoke) -> None:
        at = time.time()
        self.viewers.note(viewer, joke.family, at)
        self.channels.note(channel, joke.family, at)
        self._store.write(
            "INSERT INTO jokes_served (viewer, joke_key, family, channel, at) "
            "VALUES (?, ?, ?, ?, ?)",
            (viewer, joke.key, joke.family, channel, at),
        )
        self._served_count[viewer] = self._served_count.get(viewer, 0) + 1
        self._last[viewer] = joke.key
        await self.viewers.share(viewer, joke.family, at)
        await self.channels.share(channel, joke.family, at)
        if self._redis is not None:
            await self._redis.set(LAST_PREFIX + viewer, joke.key, self.viewers.max_age_s)
        await self._store.flush()  # committed before it is told: a crash cannot retell it

    async def latest(self, viewer: str) -> str | None:
        """The key of the joke ``viewer`` got last, on any instance."""
        if self._redis is not None:
            shared = await self._redis.get(LAST_PREFIX + viewer)
            if shared:
                return shared.decode()
        if viewer in self._last:
            return self._last[viewer]
        rows = await self._store.fetch(
            "SELECT joke_key FROM jokes_served WHERE viewer = ? ORDER BY at DESC LIMIT 1",
            (viewer,),
        )
        return rows[0][0] if rows else None

    def pool_size(self) -> int:
        return len(self.pool)

    async def vote(self, viewer: str, value: int, key: str | None = None) -> Vote | None:
        """+1 or -1 for ``key``, or for the last joke the viewer got. A second vote replaces
        the first. None when there is no such joke."""
        key = key or await self.latest(viewer)
        if key is None:
            return None
        vote = await self.archive.vote(viewer, key, value)
        if vote is not None:
            self.pool.rate(key, vote.score, retired=vote.retired)
        return vote

    async def retire(self, key: str) -> str | None:
        """Never serve ``key`` again; its text, or None when no such joke was served."""
        text = await self.archive.retire(key)
        if text is not None:
            self.pool.rate(key, 0, retired=True)
        return text

    async def top(self, count: int = 3) -> list[tuple[str, int]]:
        return await self.archive.top(count)
