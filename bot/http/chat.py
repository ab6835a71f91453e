"""``POST /chat {prompt, conversation_id?}``: the bot's own answer (its ``ask`` command, through
the router like every platform), streamed as SSE.

Events, each ``data: <json>``: ``{"type":"start","conversation_id","source"}``, then
``{"type":"delta","text"}`` pieces, then ``{"type":"replace","text"}`` if the moderation gate
stopped the answer (show that text instead), then ``{"type":"end","usage"}``, then
``data: [DONE]``.
Sending the returned ``conversation_id`` back makes the next prompt a follow-up.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.http.common import (
    CONVERSATION_ID,
    CONVERSATION_RULE,
    SSE_DONE,
    SSE_HEADERS,
    ApiError,
    api_message,
    has_surrogates,
    read_json,
    refused,
)
from bot.http.common import sse_event as event

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


class ChatRoute:
    def __init__(self, app: App) -> None:
        self.app = app

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_post("/chat", self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        prompt, conversation = self._parse(await read_json(request))
        message = api_message(request, "chat", prompt, conversation)
        reply = await self.app.router.dispatch("ask", message, prompt)
        if reply is None or reply.retry_after_s is not None:
            raise refused(reply)
        response = web.StreamResponse(
            headers={
                **SSE_HEADERS,
                "X-Quipbot-Cache": reply.source,
                "X-Quipbot-Conversation": conversation,
            }
        )
        try:
            await response.prepare(request)
            await response.write(
                event({"type": "start", "conversation_id": conversation, "source": reply.source})
            )
            if reply.text:
                await response.write(event({"type": "delta", "text": reply.text}))
            if reply.stream is not None:
                async for piece in reply.stream:
                    await response.write(event({"type": "delta", "text": piece}))
                if reply.blocked:  # the gate stopped it: the client shows this instead
                    await response.write(event({"type": "replace", "text": reply.text}))
            prompt_tokens, completion_tokens = reply.tokens
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
            await response.write(event({"type": "end", "usage": usage}) + SSE_DONE)
            await response.write_eof()
        except ConnectionError:
            log.info("HTTP %s: the client went away mid-answer", request.path)
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
            raise ApiError(400, CONVERSATION_RULE, param="conversation_id")
        return prompt, conversation
