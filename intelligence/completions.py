"""Any OpenAI-style chat request, answered through the tiered cache, single-flight and the pool.

The cache key holds everything that changes the answer: the messages, the model and the
sampling parameters. A request that is one short user question is keyed like ``!ask`` (case,
spacing and final punctuation do not count) and may be served by a guarded fuzzy match. Any other
request (a system prompt, a conversation, a long or multi-line text such as code) is keyed on the
exact bytes of its messages and never matched fuzzily: a near-miss there is another question.

Answers are not cleaned for chat (code keeps its ``@`` and leading dots); only secrets are
redacted, before anything is cached or sent.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from intelligence.cache import Entry, Scope, TieredCache, entry_key
from intelligence.llm import ChatRequest, LLMError, Usage, estimate_usage
from intelligence.resilience import Flight, LLMPool, NoBackendAvailable, SingleFlight
from intelligence.safety import Sanitiser
from intelligence.stats import Stats

COMMAND = "completions"  # the stats and cache-scope name of this service
FUZZY_MAX_CHARS = 300  # longer single messages are documents or code: exact match only


class UpstreamError(Exception):
    """A backend was tried and failed (before any text, or mid-answer): a 502, not a 503. The
    message is safe to show a client: the details (URLs, upstream bodies) are in the log only."""


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # system, user or assistant: what every backend accepts
    content: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None

    @property
    def question(self) -> str | None:
        """The text of a lone, short, one-line user message: safe to match fuzzily."""
        if len(self.messages) != 1 or self.messages[0].role != "user":
            return None
        text = self.messages[0].content
        return text if len(text) <= FUZZY_MAX_CHARS and "\n" not in text else None

    @property
    def last_user_text(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


@dataclass(slots=True)
class CompletionResult:
    """A cached answer (``text``) or a live one (``stream`` of redacted pieces). ``usage`` is
    the answer's token count: known at once when cached, when the stream ends otherwise."""

    source: str  # l1, l2, fuzzy or llm
    text: str = ""
    stream: AsyncIterator[str] | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class CachePlan:
    scope: Scope
    prompt: str  # what the key and the fuzzy index read ("" for exact-only requests)
    fuzzy: bool

    @property
    def key(self) -> str:
        return entry_key(self.scope, self.prompt)


class CompletionService:
    def __init__(
        self,
        *,
        cache: TieredCache,
        pool: LLMPool,
        flights: SingleFlight,
        stats: Stats,
        sanitiser: Sanitiser,
        ttl_s: float,
    ) -> None:
        self.cache = cache
        self.pool = pool
        self.flights = flights
        self.stats = stats
        self.redactor = sanitiser  # only its redact(): code may keep its @ and dots
        self.ttl_s = ttl_s

    @property
    def model(self) -> str:
        return self.pool.model

    def plan(self, request: CompletionRequest) -> CachePlan:
        params = f"{request.max_tokens}\x1f{request.temperature}\x1f{request.seed}"
        question = request.question
        if question is not None:
            return CachePlan(Scope(COMMAND, self.model, params, ""), question, fuzzy=True)
        canonical = json.dumps(
            [(m.role, m.content) for m in request.messages], ensure_ascii=False
        ).encode()
        digest = hashlib.blake2b(canonical, digest_size=16).hexdigest()
        return CachePlan(Scope(COMMAND, self.model, params, "", digest), "", fuzzy=False)

    async def complete(
        self, request: CompletionRequest, *, use_cache: bool = True
    ) -> CompletionResult:
        """Raises NoBackendAvailable (no LLM can answer and nothing is cached: a 503) or
        UpstreamError (the LLM failed: a 502). ``use_cache=False`` skips the lookup but still
        stores the fresh answer, as ``Cache-Control: no-cache`` asks."""
        started = time.perf_counter()
        plan = self.plan(request)
        if use_cache:
            hit = await self.cache.get(plan.scope, plan.prompt, fuzzy=plan.fuzzy)
            if hit is not None:
                entry = hit.entry
                self.stats.record_saved(entry.tokens_in + entry.tokens_out)
                self.stats.record_command(COMMAND, time.perf_counter() - started, hit.tier)
                return CompletionResult(
                    hit.tier, entry.text, usage=Usage(entry.tokens_in, entry.tokens_out)
                )
        if not self.pool.available():
            raise NoBackendAvailable
        chat = ChatRequest(
            [{"role": m.role, "content": m.content} for m in request.messages],
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
        )

        async def ask_llm(flight: Flight) -> None:
            await self.pool.fill(chat, flight)
            flight.usage = flight.usage or estimate_usage(chat, flight.text)
            text = self.redactor.redact(flight.text)
            if text.strip():
                entry = Entry(
                    text,
                    plan.prompt if plan.fuzzy else "",  # exact-only entries stay out of fuzzy
                    self.ttl_s,
                    flight.usage.prompt_tokens,
                    flight.usage.completion_tokens,
                )
                await self.cache.put(plan.scope, plan.prompt, entry)

        flight, leader = self.flights.join(f"{COMMAND}:{plan.key}", ask_llm)
        try:
            await flight.started()
        except (NoBackendAvailable, LLMError) as exc:  # tried, and every backend failed
            raise UpstreamError("the LLM failed to answer") from exc
        self.stats.record_command(COMMAND, time.perf_counter() - started, "llm")
        result = CompletionResult("llm")
        result.stream = self._relay(flight, leader, result)
        return result

    async def _relay(
        self, flight: Flight, leader: bool, result: CompletionResult
    ) -> AsyncIterator[str]:
        try:
            async for piece in self.redactor.stream(flight.follow(), redact_only=True):
                yield piece
        except (NoBackendAvailable, LLMError) as exc:
            raise UpstreamError("the LLM stream broke mid-answer") from exc
        result.usage = flight.usage  # ask_llm set it before the flight ended
        assert result.usage is not None
        if not leader:  # this caller rode on another's call
            self.stats.record_saved(result.usage.prompt_tokens + result.usage.completion_tokens)
