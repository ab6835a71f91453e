"""Keeping the joke pool ahead of the chat: it refills in the background when an active viewer
runs low on unseen jokes, one refill at a time and only while there is demand (an idle channel
costs nothing). A refill takes, in order: jokes other instances made, well-rated jokes from the
archive, and only then one LLM call for a batch."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable

from intelligence.jokes.archive import JokeArchive
from intelligence.jokes.history import ServedHistory
from intelligence.jokes.pool import JokePool, PoolJoke
from intelligence.jokes.text import joke_key, split_jokes
from intelligence.llm import ChatRequest
from intelligence.moderation import Gate, Stage
from intelligence.prompts import STYLES, joke_batch_messages
from intelligence.resilience import LLMPool, NoBackendAvailable
from intelligence.safety import Sanitiser

log = logging.getLogger(__name__)

DEMAND_WINDOW_S = 300.0  # "recent demand": who asked for jokes in the last 5 minutes
MAX_DEMAND = 10_000  # requests remembered in that window, at most
LOW_WATER = 5  # unseen jokes every active viewer should have waiting
MAX_CHECKED_VIEWERS = 200
JOKES_PER_CALL = 5
RECYCLED_PER_REFILL = 3
LASTING_S = 60.0  # a joke about to expire does not count as waiting


class Refiller:
    def __init__(
        self,
        *,
        pool: JokePool,
        history: ServedHistory,
        archive: JokeArchive,
        llm: LLMPool,
        sanitiser: Sanitiser,
        gate: Gate,
        language: str,
        persona: str,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._pool = pool
        self._history = history
        self._archive = archive
        self._llm = llm
        self._sanitiser = sanitiser
        self._gate = gate
        self._language = language
        self._persona = persona
        self._clock = clock
        self._rng = rng
        self._demand: deque[tuple[float, str]] = deque(maxlen=MAX_DEMAND)
        self._task: asyncio.Task[None] | None = None

    def note_demand(self, viewer: str) -> None:
        now = self._clock()
        self._demand.append((now, viewer))
        while self._demand and now - self._demand[0][0] > DEMAND_WINDOW_S:
            self._demand.popleft()

    def needed(self) -> bool:
        """Does an active viewer have fewer than LOW_WATER unseen jokes that will outlive the
        next minute? No demand in the window (an idle channel) means no."""
        lasting = self._pool.lasting(LASTING_S)
        active = list(dict.fromkeys(v for _, v in reversed(self._demand)))[:MAX_CHECKED_VIEWERS]
        for viewer in active:
            seen = self._history.seen_here(viewer)
            if sum(key not in seen for key in lasting) < LOW_WATER:
                return True
        return False

    def in_background(self) -> None:
        """Start a refill if one is needed and none is running."""
        if self._task is None and self._llm.available() and self.needed():
            self._start()

    async def now(self) -> None:
        """Refill (or join the running refill) and wait for it: a cold pool waits for the LLM
        rather than go offline."""
        await asyncio.shield(self._task or self._start())

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
            self._pool.add(joke)
        return len(fresh)

    async def _recycle(self) -> int:
        now, added = self._clock(), 0
        for row in await self._archive.well_rated():
            if row["key"] not in self._pool and added < RECYCLED_PER_REFILL:
                self._pool.add(PoolJoke(row["key"], row["text"], row["style"], now, row["score"]))
                added += 1
        return added

    async def _generate(self) -> None:
        styles = self._rng.sample(STYLES[self._language], JOKES_PER_CALL)
        request = ChatRequest(
            joke_batch_messages(self._persona, self._language, styles),
            max_tokens=60 * JOKES_PER_CALL,
            temperature=1.0,
        )
        completion = await self._llm.complete(request)
        now, made = self._clock(), list[PoolJoke]()
        for text in split_jokes("\n".join(completion.texts), self._language, self._sanitiser):
            key = joke_key(text)
            if self._archive.is_retired(key) or key in self._pool:
                continue
            if await self._gate.screen(text, Stage.JOKE) is not None:
                continue
            joke = PoolJoke(key, text, styles[len(made) % len(styles)], now)
            self._pool.add(joke)
            self._archive.add(key, text, joke.style, "llm")
            made.append(joke)
        await self._pool.share(made)
        log.info("joke pool: +%d jokes from the LLM, %d in the pool", len(made), len(self._pool))
