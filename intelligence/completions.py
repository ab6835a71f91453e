"""Any OpenAI-style chat request, answered through the answer pipeline.

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

from intelligence.answers import Answer, AnswerPipeline, BackendFailed, Caching, Query
from intelligence.entries import Scope
from intelligence.llm import ChatRequest, LLMError
from intelligence.moderation import Gate, Stage, Verdict
from intelligence.resilience import NoBackendAvailable

COMMAND = "completions"  # the stats and cache-scope name of this service
FUZZY_MAX_CHARS = 300  # longer single messages are documents or code: exact match only


class Refused(Exception):
    """The moderation gate refused the request's text (``http.moderate``)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(str(verdict))
        self.verdict = verdict


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


class CompletionService:
    def __init__(
        self, *, pipeline: AnswerPipeline, ttl_s: float, gate: Gate, moderate: bool = False
    ) -> None:
        self.pipeline = pipeline
        self.ttl_s = ttl_s
        self.gate = gate
        self.moderate = moderate  # http.moderate: the request and the answer pass the gate

    @property
    def model(self) -> str:
        return self.pipeline.model

    def caching(self, request: CompletionRequest, *, lookup: bool = True) -> Caching:
        params = f"{request.max_tokens}\x1f{request.temperature}\x1f{request.seed}"
        question = request.question
        if question is not None:
            return Caching(
                Scope(COMMAND, self.model, params, ""), question, self.ttl_s, lookup=lookup
            )
        canonical = json.dumps(
            [(m.role, m.content) for m in request.messages], ensure_ascii=False
        ).encode()
        digest = hashlib.blake2b(canonical, digest_size=16).hexdigest()
        scope = Scope(COMMAND, self.model, params, "", digest)
        return Caching(scope, "", self.ttl_s, fuzzy=False, lookup=lookup)

    async def complete(self, request: CompletionRequest, *, use_cache: bool = True) -> Answer:
        """Raises NoBackendAvailable (no LLM can answer and nothing is cached: a 503),
        UpstreamError (the LLM failed: a 502) or Refused (``http.moderate`` and the gate refused
        the request). ``use_cache=False`` skips the lookup but still stores the fresh answer, as
        ``Cache-Control: no-cache`` asks. A live answer's stream raises UpstreamError if it
        breaks; with ``http.moderate``, ``answer.blocked`` says the gate stopped it."""
        started = time.perf_counter()
        if self.moderate:
            verdict = await self.gate.screen(request.last_user_text, Stage.INPUT)
            if verdict is not None:
                raise Refused(verdict)
        caching = self.caching(request, lookup=use_cache)
        answer = await self.pipeline.cached(caching)
        if answer is not None and self.moderate:
            answer.blocked = await self.gate.screen(answer.text, Stage.REPLY)
        if answer is None:  # only now is the LLM request worth building
            chat = ChatRequest(
                [{"role": m.role, "content": m.content} for m in request.messages],
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
            )
            query = Query(
                chat,
                flight=f"{COMMAND}:{caching.key}",
                caching=caching,
                raw=True,
                moderated=self.moderate,
            )
            try:
                answer = await self.pipeline.generate(query)
            except BackendFailed as exc:
                raise UpstreamError("the LLM failed to answer") from exc
            assert answer.stream is not None
            answer.stream = _upstream_errors(answer.stream)
        self.pipeline.stats.record_command(COMMAND, time.perf_counter() - started, answer.source)
        return answer


async def _upstream_errors(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    try:
        async for piece in pieces:
            yield piece
    except (NoBackendAvailable, LLMError) as exc:
        raise UpstreamError("the LLM stream broke mid-answer") from exc
