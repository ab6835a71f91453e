"""!ask: answers from the tiered cache, else one shared LLM call per distinct question."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from intelligence.cache import Entry, Scope, TieredCache, entry_key
from intelligence.llm import ChatRequest, LLMError
from intelligence.prompts import ask_messages
from intelligence.resilience import Flight, LLMPool, NoBackendAvailable, SingleFlight
from intelligence.safety import Sanitiser
from intelligence.stats import Stats

log = logging.getLogger(__name__)

CUT_MARK = " …"


@dataclass(slots=True)
class Answer:
    """Text, or a stream of cleaned text, and the tier that served it."""

    text: str
    source: str  # l1, l2, fuzzy, llm
    stream: AsyncIterator[str] | None = None


class AskService:
    def __init__(
        self,
        *,
        cache: TieredCache,
        pool: LLMPool,
        flights: SingleFlight,
        sanitiser: Sanitiser,
        stats: Stats,
        persona: str,
        language: str,
        ttl_s: float,
    ) -> None:
        self.cache = cache
        self.pool = pool
        self.flights = flights
        self.sanitiser = sanitiser
        self.stats = stats
        self.persona = persona
        self.language = language
        self.ttl_s = ttl_s

    def scope(self, tone: str = "ask") -> Scope:
        return Scope(tone, self.pool.model, self.persona, self.language)

    async def answer(self, question: str, *, tone: str = "ask") -> Answer:
        """Raises NoBackendAvailable when no LLM can answer and nothing is cached.
        ``tone`` is "ask", or "mention" for a friendlier answer to "@bot question"."""
        scope = self.scope(tone)
        hit = await self.cache.get(scope, question)
        if hit is not None:
            self.stats.record_saved(hit.entry.tokens_in + hit.entry.tokens_out)
            return Answer(hit.entry.text, hit.tier)
        if not self.pool.available():
            raise NoBackendAvailable

        async def ask_llm(flight: Flight) -> None:
            request = ChatRequest(ask_messages(self.persona, self.language, question, tone))
            await self.pool.fill(request, flight)
            text = self.sanitiser.clean(flight.text).strip()
            if text:
                usage = flight.usage
                entry = Entry(
                    text,
                    question,
                    self.ttl_s,
                    usage.prompt_tokens if usage else 0,
                    usage.completion_tokens if usage else 0,
                )
                await self.cache.put(scope, question, entry)

        flight, leader = self.flights.join(entry_key(scope, question), ask_llm)
        if not leader:
            self.stats.record_saved(0)
        try:
            await flight.started()
        except LLMError as exc:
            raise NoBackendAvailable from exc
        return Answer("", "llm", self.sanitiser.stream(_ending_gracefully(flight)))


async def _ending_gracefully(flight: Flight) -> AsyncIterator[str]:
    """A stream that breaks mid-answer ends with a cut mark, not an exception in chat."""
    try:
        async for piece in flight.follow():
            yield piece
    except Exception as exc:  # the viewer already has part of the answer
        log.warning("answer cut short: %s", exc)
        yield CUT_MARK
