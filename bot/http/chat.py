"""``POST /chat {prompt, conversation_id?}``: the bot's own answer (as ``!ask``), streamed as SSE.

Events, each ``data: <json>``: ``{"type":"start","conversation_id","source"}``, then
``{"type":"delta","text"}`` pieces, then ``{"type":"end","usage"}``, then ``data: [DONE]``.
Sending the returned ``conversation_id`` back makes the next prompt a follow-up.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.http.common import (
    SSE_DONE,
    SSE_HEADERS,
    ApiError,
    end_user,
    has_surrogates,
    log_exchange,
    read_json,
)
from bot.http.common import sse_event as event
from commands.texts import text
from intelligence.ask import Answer
from intelligence.llm import Usage
from intelligence.resilience import NoBackendAvailable

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CONVERSATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class ChatRoute:
    def __init__(self, app: App) -> None:
        self.app = app

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_post("/chat", self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        self.app.stats.messages_in["http"] += 1
        prompt, conversation = self._parse(await read_json(request))
        user = end_user(request)
        try:
            answer = await self.app.ask.answer(
                prompt, session=f"http:conv:{conversation}", conversation=True
            )
        except NoBackendAvailable:  # as in chat: say so at once rather than fail
            answer = Answer(text(self.app.settings.bot.language, "ai_resting"), "fallback")
        self.app.stats.replies_out["http"] += 1
        response = web.StreamResponse(
            headers={
                **SSE_HEADERS,
                "X-Quipbot-Cache": answer.source,
                "X-Quipbot-Conversation": conversation,
            }
        )
        parts: list[str] = []
        try:
            await response.prepare(request)
            await response.write(
                event({"type": "start", "conversation_id": conversation, "source": answer.source})
            )
            if answer.text:
                parts.append(answer.text)
                await response.write(event({"type": "delta", "text": answer.text}))
            if answer.stream is not None:
                async for piece in answer.stream:
                    parts.append(piece)
                    await response.write(event({"type": "delta", "text": piece}))
            usage = answer.usage or Usage(0, 0)
            end = {
                "type": "end",
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                },
            }
            await response.write(event(end) + SSE_DONE)
            await response.write_eof()
        except ConnectionError:
            log.debug("HTTP client went away mid-answer")
        finally:
            log_exchange(
                self.app.store,
                route="chat",
                command="ask",
                user=user,
                prompt=prompt,
                answer="".join(parts),
                source=answer.source,
                usage=answer.usage,
                started=started,
            )
        return response

    def _parse(self, body: Any) -> tuple[str, str]:
        if not isinstance(body, dict):
            raise ApiError(400, 'the body must be a JSON object: {"prompt": "..."}')
        unknown = set(body) - {"prompt", "conversation_id"}
        if unknown:
            name = sorted(unknown)[0][:50]
            raise ApiError(
                400, f"unknown key {name!r}; send prompt and conversation_id", param=name
            )
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ApiError(400, "prompt is required: a non-empty string", param="prompt")
        limit = self.app.settings.limits.max_prompt_chars
        if len(prompt) > limit:
            raise ApiError(
                413,
                f"the prompt has {len(prompt)} characters; at most {limit} "
                "(limits.max_prompt_chars)",
                code="too_large",
                param="prompt",
            )
        if has_surrogates(prompt):
            raise ApiError(400, "prompt is not valid Unicode (a lone surrogate)", param="prompt")
        conversation = body.get("conversation_id")
        if conversation is None:
            return prompt, uuid.uuid4().hex
        if not isinstance(conversation, str) or not CONVERSATION_ID.fullmatch(conversation):
            raise ApiError(
                400,
                "conversation_id must be 1-64 characters among letters, digits and . _ : -",
                param="conversation_id",
            )
        return prompt, conversation
