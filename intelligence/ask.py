"""!ask and mentions: answers through the answer pipeline, one shared LLM call per distinct
question, learned when asked often (see ``learned``).

A follow-up in a conversation (a Discord thread or reply, an HTTP conversation_id) is answered
with the conversation's history and never served to anyone else.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import AsyncIterator

from intelligence.answers import Answer, AnswerPipeline, Caching, Query
from intelligence.entries import Scope
from intelligence.fuzzy import analyse
from intelligence.llm import ChatRequest
from intelligence.offline import OfflineJokes
from intelligence.prompts import Tone, absurd_messages, ask_messages, ask_rules, frame_user_text
from intelligence.resilience import NoBackendAvailable
from intelligence.sessions import Sessions
from intelligence.sources import Source

CUT_MARK = " …"
TIME_SENSITIVE_TTL_S = 60.0  # "what's the score now?" must not be answered from an hour ago


class AskService:
    def __init__(
        self,
        *,
        pipeline: AnswerPipeline,
        sessions: Sessions,
        offline: OfflineJokes,
        persona: str,
        language: str,
        ttl_s: float,
    ) -> None:
        self.pipeline = pipeline
        self.sessions = sessions
        self.offline = offline
        self.persona = persona
        self.language = language
        self.ttl_s = ttl_s
        self._scopes: dict[Tone, Scope] = {}

    def scope(self, tone: Tone = Tone.ASK) -> Scope:
        scope = self._scopes.get(tone)
        if scope is None:
            scope = self._scopes[tone] = Scope(
                tone, self.pipeline.model, self.persona, self.language
            )
        return scope

    async def answer(
        self,
        question: str,
        *,
        tone: Tone = Tone.ASK,
        session: str | None = None,
        conversation: bool = False,
    ) -> Answer:
        """Raises NoBackendAvailable when no LLM can answer and nothing is cached.

        ``session``: whose history records this turn (a viewer or a conversation id);
        ``conversation``: the platform gave context, so earlier turns shape the answer.
        """
        if session and conversation and (history := self.sessions.history(session)):
            return await self._follow_up(question, tone, session, history)
        caching = Caching(self.scope(tone), question, self.ttl_s, learn=True)
        answer = await self.pipeline.cached(caching)
        if answer is None:  # only a miss pays for the analysis and the prompt
            if analyse(question).time_sensitive:
                caching = dataclasses.replace(caching, ttl_s=min(TIME_SENSITIVE_TTL_S, self.ttl_s))
            request = ChatRequest(ask_messages(self.persona, self.language, question, tone))
            query = Query(
                request,
                flight=caching.key,
                caching=caching,
                cut_mark=CUT_MARK,
                instructions=ask_rules(self.language, tone),
            )
            answer = await self.pipeline.generate(query)
        return self._remembered(answer, session, question)

    async def _follow_up(
        self, question: str, tone: Tone, session: str, history: list[dict[str, str]]
    ) -> Answer:
        system, user = ask_messages(self.persona, self.language, question, tone)
        earlier = [
            {"role": m["role"], "content": frame_user_text(m["content"])}
            if m["role"] == "user"
            else m
            for m in history
        ]
        request = ChatRequest([system, *earlier, user])
        query = Query(
            request,
            flight=f"conversation:{session}:{question}",
            cut_mark=CUT_MARK,
            instructions=ask_rules(self.language, tone),
        )
        return self._remembered(await self.pipeline.answer(query), session, question)

    async def absurd(self, text: str, *, session: str, rng: random.Random | None = None) -> Answer:
        """Something short and surprising on a locally made absurd theme ("le pigeon
        dépressif"). The viewer's own words go to their history, not to the LLM. Without an
        LLM, an offline joke on the same theme."""
        theme, offline_joke = self.offline.absurd(rng)
        if text:
            self.sessions.add_turn(session, text, theme)
        request = ChatRequest(absurd_messages(self.persona, self.language, theme), temperature=1.1)
        # Every call is new: no sharing, no cache.
        query = Query(request, flight=f"absurd:{session}:{time.monotonic()}", cut_mark=CUT_MARK)
        try:
            return await self.pipeline.answer(query)
        except NoBackendAvailable:
            return Answer(offline_joke, Source.FALLBACK)

    async def forget(self, question: str) -> str | None:
        """Unpin the learned answer a question matches; return its question, or None."""
        cache = self.pipeline.cache
        for tone in Tone:
            key = cache.find_key(self.scope(tone), question)
            entry = await cache.forget(key) if key is not None else None
            if entry is not None:
                return entry.prompt
        return None

    def _remembered(self, answer: Answer, session: str | None, question: str) -> Answer:
        """The answer, recorded in the session's history (once a stream has ended)."""
        if not session:
            return answer
        if answer.stream is None:
            self.sessions.add_turn(session, question, answer.text)
            return answer
        inner = answer.stream

        async def recorded() -> AsyncIterator[str]:
            parts: list[str] = []
            async for piece in inner:
                parts.append(piece)
                yield piece
            self.sessions.add_turn(session, question, "".join(parts).strip())

        answer.stream = recorded()
        return answer
