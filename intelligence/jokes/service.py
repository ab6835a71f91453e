"""!joke: a fresh joke for every viewer, at cache speed, with few LLM calls.

The first version keyed a cache by ``{prompt}_{user}_v{count//3}_{int(time/300)}`` plus a random
style, so hits were rare and a viewer could get the same joke twice. Here the same mechanisms
serve their purpose instead:

- one shared **pool** of recent jokes (``pool``); a joke made for one viewer serves every viewer
  who has not had it;
- each viewer's **history** of their last 50 jokes (``history``), keyed by the platform's stable
  user id: never a joke from it again;
- the **session counter** and its **variant windows** (every 3 jokes, every ``joke_ttl_s``)
  rotate the viewer's **style**, which only weighs the choice and shapes what is generated, so
  styles never split the pool into misses; a lookup does not advance the counter, a served
  joke does;
- the pool **refills in the background** (``refill``), a batch of jokes per LLM call; votes
  (``archive``) bring well-rated jokes back and retire bad ones.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from intelligence.jokes.archive import JokeArchive, Vote
from intelligence.jokes.history import MAX_VIEWERS, ServedHistory
from intelligence.jokes.pool import JokePool, PoolJoke
from intelligence.jokes.refill import Refiller
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

MAX_CHANNELS = 10_000


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
        ttl_s: float,
        max_jokes: int,
        llm: LLMPool,
        store: Store,
        redis: RedisTier | None,
        stats: Stats,
        sanitiser: Sanitiser,
        gate: Gate,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.language = language
        self.ttl_s = ttl_s
        self.offline = OfflineJokes(language)
        self.llm = llm
        self.stats = stats
        self._clock = clock
        self._rng = rng or random.Random()
        self.history = ServedHistory(store, redis)
        self.archive = JokeArchive(store, language)
        self.pool = JokePool(
            ttl_s=ttl_s,
            max_jokes=max_jokes,
            redis=redis,
            shared_scope=f"{language}|{llm.model}|{persona}",
            clock=clock,
            rng=self._rng,
        )
        self.refill = Refiller(
            pool=self.pool,
            history=self.history,
            archive=self.archive,
            llm=llm,
            sanitiser=sanitiser,
            gate=gate,
            language=language,
            persona=persona,
            clock=clock,
            rng=self._rng,
        )
        self._served_count: LRUCache[str, int] = LRUCache(MAX_VIEWERS)  # the session counter
        self._channel_last: LRUCache[str, str] = LRUCache(MAX_CHANNELS)

    async def start(self) -> None:
        await self.history.load()
        await self.archive.load()

    async def aclose(self) -> None:
        await self.refill.aclose()

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
        self.refill.note_demand(viewer)
        self.pool.expire()
        avoid = await self.history.seen(viewer)
        if last := self._channel_last.get(channel):
            avoid.add(last)
        style = self.style_for(viewer)
        joke, source = self.pool.pick(avoid, style), Source.L1
        if joke is None and self.llm.available():
            await self.refill.now()
            joke, source = self.pool.pick(avoid, style), Source.LLM
        if joke is None:
            joke, source = self._offline(viewer, avoid), Source.FALLBACK
        await self.history.record(viewer, joke.key, channel)
        self._served_count[viewer] = self._served_count.get(viewer, 0) + 1
        self._channel_last[channel] = joke.key
        if source is Source.L1:
            self.stats.record_saved(0)
        self.refill.in_background()
        return Joke(joke.text, source, joke.key)

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
        self.archive.add(key, text, "", "offline")
        return PoolJoke(key, text, "", self._clock())

    def pool_size(self) -> int:
        return len(self.pool)

    async def vote(self, viewer: str, value: int, key: str | None = None) -> Vote | None:
        """+1 or -1 for ``key``, or for the last joke the viewer got. A second vote replaces
        the first. None when there is no such joke."""
        key = key or await self.history.latest(viewer)
        if key is None:
            return None
        vote = await self.archive.vote(viewer, key, value)
        if vote is not None:
            self.pool.rate(key, vote.score, retired=vote.retired)
        return vote

    async def top(self, count: int = 3) -> list[tuple[str, int]]:
        return await self.archive.top(count)
