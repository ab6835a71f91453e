"""!ask: answers from the tiered cache, else one shared LLM call per distinct question.

A question asked 3 times within the TTL (exactly or by a guarded fuzzy match) has its answer
learned: pinned in SQLite, it survives the TTL and restarts. A follow-up in a conversation
(a Discord thread or reply, an HTTP conversation_id) is answered with the conversation's history
and never served to anyone else.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from cachetools import TTLCache

from intelligence.cache import Entry, Scope, TieredCache, entry_key
from intelligence.fuzzy import analyse
from intelligence.llm import ChatRequest, LLMError, Usage, estimate_usage
from intelligence.offline import OfflineJokes
from intelligence.prompts import absurd_messages, ask_messages, frame_user_text
from intelligence.resilience import Flight, LLMPool, NoBackendAvailable, SingleFlight
from intelligence.safety import Sanitiser
from intelligence.sessions import Sessions
from intelligence.stats import Stats
from intelligence.store import Store

log = logging.getLogger(__name__)

CUT_MARK = " …"
LEARN_AFTER = 3  # asks within the TTL before an answer is pinned
ASKED_PREFIX = "quipbot:v1:asked:"  # Redis counters of asks per question, shared by instances
TIME_SENSITIVE_TTL_S = 60.0  # "what's the score now?" must not be answered from an hour ago


@dataclass(slots=True)
class Answer:
    """Text, or a stream of cleaned text, and the tier that served it. ``usage`` is known at
    once for cached answers and when the stream ends for LLM ones."""

    text: str
    source: str  # l1, l2, fuzzy, llm, fallback
    stream: AsyncIterator[str] | None = None
    usage: Usage | None = None


class AskService:
    def __init__(
        self,
        *,
        cache: TieredCache,
        pool: LLMPool,
        flights: SingleFlight,
        sanitiser: Sanitiser,
        stats: Stats,
        store: Store,
        sessions: Sessions,
        offline: OfflineJokes,
        persona: str,
        language: str,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.pool = pool
        self.flights = flights
        self.sanitiser = sanitiser
        self.stats = stats
        self.store = store
        self.sessions = sessions
        self.offline = offline
        self.persona = persona
        self.language = language
        self.ttl_s = ttl_s
        self._asked: TTLCache[str, int] = TTLCache(100_000, ttl_s, timer=clock)
        self._learned_loaded = False

    def scope(self, tone: str = "ask") -> Scope:
        return Scope(tone, self.pool.model, self.persona, self.language)

    async def answer(
        self,
        question: str,
        *,
        tone: str = "ask",
        session: str | None = None,
        conversation: bool = False,
    ) -> Answer:
        """Raises NoBackendAvailable when no LLM can answer and nothing is cached.

        ``tone``: "ask", or "mention" for a friendlier answer to "@bot question".
        ``session``: whose history records this turn (a viewer or a conversation id);
        ``conversation``: the platform gave context, so earlier turns shape the answer.
        """
        await self._load_learned()
        if session and conversation and (history := self.sessions.history(session)):
            return await self._follow_up(question, tone, session, history)
        scope = self.scope(tone)
        hit = await self.cache.get(scope, question)
        if hit is not None:
            self.stats.record_saved(hit.entry.tokens_in + hit.entry.tokens_out)
            await self._count(hit.key, hit.entry)
            if session:
                self.sessions.add_turn(session, question, hit.entry.text)
            return Answer(hit.entry.text, hit.tier, usage=Usage(0, 0))
        if not self.pool.available():
            raise NoBackendAvailable

        async def ask_llm(flight: Flight) -> None:
            request = ChatRequest(ask_messages(self.persona, self.language, question, tone))
            await self.pool.fill(request, flight)
            text = self.sanitiser.clean(flight.text).strip()
            if text:
                usage = flight.usage or estimate_usage(request, flight.text)
                ttl = TIME_SENSITIVE_TTL_S if analyse(question).time_sensitive else self.ttl_s
                entry = Entry(
                    text,
                    question,
                    min(ttl, self.ttl_s),
                    usage.prompt_tokens,
                    usage.completion_tokens,
                )
                await self.cache.put(scope, question, entry)

        key = entry_key(scope, question)
        await self._count(key, None)
        return await self._stream(key, ask_llm, question, session)

    async def _follow_up(
        self, question: str, tone: str, session: str, history: list[dict[str, str]]
    ) -> Answer:
        if not self.pool.available():
            raise NoBackendAvailable
        system, user = ask_messages(self.persona, self.language, question, tone)
        earlier = [
            {"role": m["role"], "content": frame_user_text(m["content"])}
            if m["role"] == "user"
            else m
            for m in history
        ]
        request = ChatRequest([system, *earlier, user])
        key = f"conversation:{session}:{question}"
        return await self._stream(
            key, lambda flight: self.pool.fill(request, flight), question, session
        )

    async def absurd(self, text: str, *, session: str, rng: random.Random | None = None) -> Answer:
        """Something short and surprising on a locally made absurd theme ("le pigeon
        dépressif"). The viewer's own words go to their history, not to the LLM. Without an
        LLM, an offline joke on the same theme."""
        theme, offline_joke = self.offline.absurd(rng)
        if text:
            self.sessions.add_turn(session, text, theme)
        if not self.pool.available():
            return Answer(offline_joke, "fallback")
        request = ChatRequest(absurd_messages(self.persona, self.language, theme), temperature=1.1)
        key = f"absurd:{session}:{time.monotonic()}"  # every call is new: no sharing, no cache
        try:
            return await self._stream(key, lambda f: self.pool.fill(request, f), None, None)
        except NoBackendAvailable:
            return Answer(offline_joke, "fallback")

    async def forget(self, question: str) -> str | None:
        """Unpin the learned answer a question matches; return its question, or None."""
        await self._load_learned()
        for tone in ("ask", "mention"):
            key = self.cache.find_key(self.scope(tone), question)
            if key is not None and key in self.cache.pinned:
                entry = await self.cache.unpin(key)
                self.store.write("DELETE FROM learned WHERE key = ?", (key,))
                self._asked.pop(key, None)
                if self.cache.redis is not None:
                    await self.cache.redis.delete(ASKED_PREFIX + key)
                return entry.prompt if entry else question
        return None

    async def _stream(
        self,
        key: str,
        run: Callable[[Flight], Awaitable[None]],
        question: str | None,
        session: str | None,
    ) -> Answer:
        flight, leader = self.flights.join(key, run)
        if not leader:
            self.stats.record_saved(0)
        try:
            await flight.started()
        except LLMError as exc:
            raise NoBackendAvailable from exc
        answer = Answer("", "llm")

        async def relay() -> AsyncIterator[str]:
            """Clean pieces for this caller; at the end, its usage and its session turn."""
            parts: list[str] = []
            async for piece in self.sanitiser.stream(_ending_gracefully(flight)):
                parts.append(piece)
                yield piece
            answer.usage = flight.usage if leader else Usage(0, 0)
            if session and question is not None:
                self.sessions.add_turn(session, question, "".join(parts).strip())

        answer.stream = relay()
        return answer

    async def _count(self, key: str, entry: Entry | None) -> None:
        """Count asks of one question within the TTL, on every instance when they share Redis;
        the third pins its answer."""
        if key in self.cache.pinned:
            return  # learned already: no count to keep, no Redis round trip per hit
        count = self._asked.get(key, 0) + 1
        self._asked[key] = count
        if self.cache.redis is not None:
            shared = await self.cache.redis.count(f"{ASKED_PREFIX}{key}", self.ttl_s)
            count = shared if shared is not None else count
        if (
            count >= LEARN_AFTER
            and entry is not None
            and not analyse(entry.prompt).time_sensitive  # today's answer is wrong tomorrow
        ):
            self.cache.pin(key, entry)
            self.store.write(
                "INSERT OR REPLACE INTO learned (key, prompt, answer, tokens_in, tokens_out, "
                "pinned_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key, entry.prompt, entry.text, entry.tokens_in, entry.tokens_out, time.time()),
            )
            log.info("learned the answer to %r (asked %d times)", entry.prompt, count)

    async def _load_learned(self) -> None:
        if self._learned_loaded:
            return
        self._learned_loaded = True
        rows = await self.store.fetch("SELECT * FROM learned")
        for row in rows:
            entry = Entry(
                row["answer"], row["prompt"], self.ttl_s, row["tokens_in"], row["tokens_out"]
            )
            self.cache.pin(row["key"], entry)


async def _ending_gracefully(flight: Flight) -> AsyncIterator[str]:
    """A stream that breaks mid-answer ends with a cut mark, not an exception in chat."""
    try:
        async for piece in flight.follow():
            yield piece
    except Exception as exc:  # the viewer already has part of the answer
        log.warning("answer cut short: %s", exc)
        yield CUT_MARK
