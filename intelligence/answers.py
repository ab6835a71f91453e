"""The one way an answer is made: cache → single-flight → circuit breaker → LLM → cache.

``!ask``, mentions, ``/chat`` and ``/v1/chat/completions`` all go through ``AnswerPipeline``;
what differs between them is their ``Query``: which cache entry the answer is (if any), whether
asking often teaches it, and whether it is chat (cleaned) or an API answer (secrets redacted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from intelligence.cache import TieredCache
from intelligence.entries import Entry, Scope, entry_key
from intelligence.learned import LearnedAnswers
from intelligence.llm import ChatRequest, LLMError, Usage, estimate_usage
from intelligence.moderation import Blocked, Gate, Layer, Stage, Verdict
from intelligence.resilience import Flight, LLMPool, NoBackendAvailable, SingleFlight
from intelligence.safety import Sanitiser, repeats
from intelligence.sources import Source
from intelligence.stats import Stats

log = logging.getLogger(__name__)


NO_USAGE = Usage(0, 0)


class BackendFailed(NoBackendAvailable):
    """An LLM was tried and failed before giving any text (not merely unavailable)."""


@dataclass(frozen=True, slots=True)
class Caching:
    """Where an answer is cached, and how it may be found again."""

    scope: Scope
    prompt: str  # what the key and the fuzzy index read
    ttl_s: float
    fuzzy: bool = True  # may a paraphrase be answered by it?
    learn: bool = False  # do asks count, so that a popular answer is pinned?
    lookup: bool = True  # False: answer afresh (the fresh answer is still cached)

    @property
    def key(self) -> str:
        return entry_key(self.scope, self.prompt)


@dataclass(frozen=True, slots=True)
class Query:
    request: ChatRequest
    flight: str  # queries with the same flight key at the same time share one LLM call
    caching: Caching | None = None  # None: never cached (a follow-up, an absurd theme)
    raw: bool = False  # an API answer: only secrets are redacted (code keeps its @ and dots)
    cut_mark: str | None = None  # end a stream that breaks mid-answer with it, else raise
    moderated: bool = True  # the answer passes the gate before it is cached
    instructions: str = ""  # an answer repeating a long span of these leaks the prompt


@dataclass(slots=True)
class Answer:
    """Text, or a stream of cleaned text, and where it came from. ``usage`` is the answer's
    tokens as it was made: known at once when cached, when the stream ends otherwise."""

    text: str
    source: Source
    stream: AsyncIterator[str] | None = None
    usage: Usage | None = None
    charged: bool = False  # this caller paid for the LLM call (not a hit, not a shared call)
    blocked: Verdict | None = None  # an API stream the gate stopped (chat streams: the router)

    @property
    def cost(self) -> Usage:
        """The tokens this answer cost its caller."""
        return self.usage if self.charged and self.usage is not None else NO_USAGE


class AnswerPipeline:
    def __init__(
        self,
        *,
        cache: TieredCache,
        pool: LLMPool,
        flights: SingleFlight,
        sanitiser: Sanitiser,
        gate: Gate,
        stats: Stats,
    ) -> None:
        self.cache = cache
        self.pool = pool
        self.flights = flights
        self.sanitiser = sanitiser
        self.gate = gate
        self.stats = stats
        self.learned: LearnedAnswers | None = cache.learned

    @property
    def model(self) -> str:
        return self.pool.model

    async def answer(self, query: Query) -> Answer:
        """The cached answer, else a live one. Raises NoBackendAvailable when no LLM can answer
        and nothing is cached, and its subclass BackendFailed when the LLM was tried and failed
        before any text."""
        if query.caching is not None:
            cached = await self.cached(query.caching)
            if cached is not None:
                return cached
        return await self.generate(query)

    async def cached(self, caching: Caching) -> Answer | None:
        """The answer from the cache, if it has one (and ``caching.lookup`` allows looking)."""
        if not caching.lookup:
            return None
        hit = await self.cache.get(caching.scope, caching.prompt, fuzzy=caching.fuzzy)
        if hit is None:
            return None
        entry = hit.entry
        self.stats.record_saved(entry.tokens_in + entry.tokens_out)
        if caching.learn and self.learned is not None:
            await self.learned.count(hit.key, entry)
        return Answer(entry.text, hit.tier, usage=Usage(entry.tokens_in, entry.tokens_out))

    async def generate(self, query: Query) -> Answer:
        """A live answer from the LLM, shared with every concurrent query of the same flight,
        and cached as ``query.caching`` says. Raises as ``answer`` does."""
        caching = query.caching
        if not self.pool.available():
            raise NoBackendAvailable
        if caching is not None and caching.learn and self.learned is not None:
            await self.learned.count(caching.key, None)
        flight, leader = self.flights.join(query.flight, lambda f: self._fill(query, f))
        try:
            await flight.started()
        except (NoBackendAvailable, LLMError) as exc:  # tried, and every backend failed
            raise BackendFailed from exc
        except asyncio.CancelledError:  # the caller went away before the first word
            flight.leave()
            raise
        answer = Answer("", Source.LLM, charged=leader)
        answer.stream = self._relay(query, flight, answer)
        return answer

    async def _fill(self, query: Query, flight: Flight) -> None:
        """The leader's work: stream the LLM's answer into the flight, then cache it."""
        await self.pool.fill(query.request, flight)
        flight.usage = flight.usage or estimate_usage(query.request, flight.text)
        caching = query.caching
        if caching is None:
            return
        text = self._clean(query, flight.text)
        if text.strip() and not await self._refused(query, text):
            entry = Entry(
                text,
                caching.prompt if caching.fuzzy else "",  # exact-only entries stay out of fuzzy
                caching.ttl_s,
                flight.usage.prompt_tokens,
                flight.usage.completion_tokens,
            )
            await self.cache.put(caching.scope, caching.prompt, entry)

    async def _refused(self, query: Query, text: str) -> bool:
        """Must this answer stay out of the cache (and so out of the learned answers)?"""
        if query.instructions and repeats(text, query.instructions):
            self.gate.record(_LEAK, Stage.ANSWER, text)
            return True
        return query.moderated and await self.gate.screen(text, Stage.ANSWER) is not None

    def _clean(self, query: Query, text: str) -> str:
        return self.sanitiser.redact(text) if query.raw else self.sanitiser.clean(text).strip()

    async def _relay(self, query: Query, flight: Flight, answer: Answer) -> AsyncIterator[str]:
        """The flight's pieces for one caller, cleaned; at the end, the answer's usage."""
        pieces = flight.follow()
        if query.cut_mark is not None:
            pieces = _ending_with(pieces, query.cut_mark)
        pieces = self.sanitiser.stream(pieces, redact_only=query.raw)
        if query.instructions:
            pieces = _not_repeating(pieces, query.instructions)
        if query.raw and query.moderated:  # no router screens an API answer: the gate, here

            def stop(verdict: Verdict) -> None:
                answer.blocked = verdict

            pieces = self.gate.screen_stream(pieces, Stage.REPLY, stop)
        try:
            async for piece in pieces:
                yield piece
        finally:
            flight.leave()
        answer.usage = flight.usage
        if not answer.charged and flight.usage is not None:  # rode on another caller's call
            self.stats.record_saved(flight.usage.prompt_tokens + flight.usage.completion_tokens)


_LEAK = Verdict(Layer.PROMPT_LEAK, "the answer repeats the instructions")


async def _not_repeating(pieces: AsyncIterator[str], instructions: str) -> AsyncIterator[str]:
    """A stream that raises Blocked as soon as it repeats a long span of the instructions."""
    seen = ""
    async for piece in pieces:
        seen += piece
        if repeats(seen, instructions):
            raise Blocked(_LEAK)
        yield piece


async def _ending_with(pieces: AsyncIterator[str], cut_mark: str) -> AsyncIterator[str]:
    """A stream that breaks mid-answer ends with a cut mark, not an exception: the viewer
    already has part of the answer."""
    try:
        async for piece in pieces:
            yield piece
    except Exception as exc:
        log.warning("answer cut short: %s", exc)
        yield cut_mark
