"""Keeping the joke pool ahead of the chat: it refills in the background when an active viewer
runs low on jokes neither they nor their channel heard, one refill at a time and only while there
is demand (an idle channel costs nothing). A refill takes, in order: jokes other instances made,
well-rated jokes from the archive, and only then one LLM call for a batch.

Every LLM joke passes the quality gate (``quality``), the moderation gate, and the rewording
check (``similar``): a joke whose family is in the pool already is one joke, not two.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable

from intelligence.jokes.archive import JokeArchive
from intelligence.jokes.history import Heard
from intelligence.jokes.pool import JokePool, PoolJoke
from intelligence.jokes.quality import judge
from intelligence.jokes.similar import Families
from intelligence.jokes.text import blocks, clean_joke, joke_key
from intelligence.llm import ChatRequest
from intelligence.moderation import Gate, Stage
from intelligence.prompts import STYLES, joke_batch_messages
from intelligence.resilience import LLMPool, NoBackendAvailable
from intelligence.safety import Sanitiser
from intelligence.stats import Stats

log = logging.getLogger(__name__)

DEMAND_WINDOW_S = 300.0  # "recent demand": who asked for jokes in the last 5 minutes
MAX_DEMAND = 10_000  # requests remembered in that window, at most
LOW_WATER = 5  # jokes every active viewer should have waiting that they and their channel missed
MAX_CHECKED_VIEWERS = 200
CHOICES = 2  # answers asked per call where the provider gives several (``n``)
RECYCLED_PER_REFILL = 3
LASTING_S = 60.0  # a joke about to expire does not count as waiting


class Refiller:
    def __init__(
        self,
        *,
        pool: JokePool,
        viewers: Heard,
        channels: Heard,
        archive: JokeArchive,
        families: Families,
        llm: LLMPool,
        sanitiser: Sanitiser,
        gate: Gate,
        stats: Stats,
        language: str,
        persona: str,
        batch: int,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._pool = pool
        self._viewers = viewers
        self._channels = channels
        self._archive = archive
        self._families = families
        self._llm = llm
        self._sanitiser = sanitiser
        self._gate = gate
        self._stats = stats
        self._language = language
        self._persona = persona
        self._batch = batch
        self._clock = clock
        self._rng = rng
        self._demand: deque[tuple[float, str, str]] = deque(maxlen=MAX_DEMAND)
        self._task: asyncio.Task[None] | None = None

    def note_demand(self, viewer: str, channel: str) -> None:
        now = self._clock()
        self._demand.append((now, viewer, channel))
        while self._demand and now - self._demand[0][0] > DEMAND_WINDOW_S:
            self._demand.popleft()

    def needed(self) -> bool:
        """Does an active viewer have fewer than LOW_WATER jokes waiting that neither they nor
        their channel heard, and that will outlive the next minute? No demand in the window
        (an idle channel) means no."""
        lasting = self._pool.lasting(LASTING_S)
        recent = dict.fromkeys((v, c) for _, v, c in reversed(self._demand))
        for viewer, channel in list(recent)[:MAX_CHECKED_VIEWERS]:
            heard = self._viewers.families_here(viewer) | self._channels.families_here(channel)
            if sum(joke.family not in heard for joke in lasting) < LOW_WATER:
                return True
        return False

    def in_background(self) -> None:
        """Start a refill if one is needed and none is running."""
        if self._task is None and self._llm.available() and self.needed():
            self._start()

    async def now(self, wait_s: float) -> None:
        """Refill (or join the running refill) and wait for it, at most ``wait_s`` seconds: a
        cold pool waits a little for the LLM rather than go offline, never long."""
        task = self._task or self._start()
        try:
            await asyncio.wait_for(asyncio.shield(task), wait_s)
        except TimeoutError:
            log.info("joke pool: the LLM is slow; an offline joke meanwhile")

    def _start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self._fill())
        self._task.add_done_callback(lambda _: setattr(self, "_task", None))
        return self._task

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _fill(self) -> None:
        try:
            if await self._from_other_instances() and not self.needed():
                return
            if await self._recycle() and not self.needed():
                return
            await self._generate()
        except NoBackendAvailable:
            log.info("no LLM for the joke pool: viewers get offline jokes meanwhile")
        except Exception:
            log.exception("joke pool refill failed")

    async def _from_other_instances(self) -> int:
        fresh = [j for j in await self._pool.shared() if not self._archive.is_retired(j.key)]
        for joke in fresh:
            self._families.remember(joke.key, joke.text, joke.family)
            self._pool.add(joke)
        return len(fresh)

    async def _recycle(self) -> int:
        now, added = self._clock(), 0
        for row in await self._archive.well_rated():
            if row["key"] not in self._pool and added < RECYCLED_PER_REFILL:
                joke = PoolJoke(row["key"], row["family"], row["text"], row["style"], now)
                joke.score = row["score"]
                self._pool.add(joke)
                added += 1
        return added

    async def _generate(self) -> None:
        styles = [self._rng.choice(STYLES[self._language]) for _ in range(self._batch)]
        request = ChatRequest(
            joke_batch_messages(self._persona, self._language, styles),
            max_tokens=60 * self._batch,
            temperature=1.0,
            n=CHOICES,
        )
        completion = await self._llm.complete(request)
        now, made = self._clock(), list[PoolJoke]()
        in_pool = self._pool.families()
        for block in (b for text in completion.texts for b in blocks(text)):
            accepted = await self._accepted(block, in_pool)
            if accepted is None:
                continue
            key, family, text = accepted
            joke = PoolJoke(key, family, text, styles[len(made) % len(styles)], now)
            in_pool.add(joke.family)
            self._pool.add(joke)
            self._archive.add(joke.key, joke.family, joke.text, joke.style, "llm")
            made.append(joke)
        await self._pool.share(made)
        log.info("joke pool: +%d jokes from the LLM, %d in the pool", len(made), len(self._pool))

    async def _accepted(self, block: str, in_pool: set[str]) -> tuple[str, str, str] | None:
        """(key, family, text) of a block that is a new, real, clean joke; else None."""
        reason = judge(block, self._language)
        text = clean_joke(block, self._sanitiser) if reason is None else None
        if text is not None and (reason := judge(text, self._language)) is not None:
            text = None  # what cleaning left is no joke any more ("Witches! 🧙" → "Witches!")
        if text is None:
            refused = reason or "length"
            self._stats.record_joke_reject(refused)
            log.info("joke refused (%s): %.80r", refused, block)
            return None
        key = joke_key(text)
        if self._archive.is_retired(key) or key in self._pool:
            return None
        if await self._gate.screen(text, Stage.JOKE) is not None:
            return None
        family = self._families.family_of(key, text)
        if family in in_pool:
            self._stats.record_joke_reject("rewording")
            log.info("joke refused (a rewording of one in the pool): %.80r", text)
            return None
        return key, family, text
