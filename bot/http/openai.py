"""The OpenAI-compatible routes: ``/v1/models``, ``/v1/chat/completions`` and ``/v1/logs``.

Responses and stream chunks follow OpenAI's shapes to the key, so any OpenAI client works. A
cached answer is sent at once, as one JSON body or as a short stream; the streamed and plain
forms of a request share one cache entry and one LLM call.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cachetools import LRUCache

from bot.http.common import (
    JSON_HEADERS,
    SSE_HEADERS,
    ApiError,
    end_user,
    json_response,
    log_exchange,
    no_cache,
    parse_json,
    read_body,
    sse_event,
)
from bot.http.openai_parse import Limits, ParsedCompletion, parse_completion
from bot.http.openai_shapes import CompletionShapes
from intelligence.answers import Answer
from intelligence.completions import Refused, UpstreamError
from intelligence.llm import Usage
from intelligence.resilience import NoBackendAvailable

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

MAX_LOG_ROWS = 1000
MEMO_BODIES = 1024  # request bodies whose validation is remembered
MEMO_BODY_BYTES = 4096  # only small ones: the memo stays under 4 MiB


class OpenAIRoutes:
    def __init__(self, app: App) -> None:
        self.app = app
        self.completions = app.completions
        self.created = int(time.time())
        self.limits = Limits(
            model=self.completions.model,
            max_messages=app.settings.http.max_messages,
            max_input_chars=app.settings.http.max_input_chars,
            max_tokens=app.settings.llm.max_tokens,
        )
        self._parsed: LRUCache[bytes, ParsedCompletion] = LRUCache(MEMO_BODIES)

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/models", self.models)
        router.add_get("/v1/models/{model}", self.model)
        router.add_post("/v1/chat/completions", self.chat_completions)
        router.add_get("/v1/logs", self.logs)

    # -- models -------------------------------------------------------------------------

    def _model_card(self) -> dict[str, Any]:
        return {
            "id": self.limits.model,
            "object": "model",
            "created": self.created,
            "owned_by": "quipbot",
        }

    async def models(self, request: web.Request) -> web.Response:
        return json_response({"object": "list", "data": [self._model_card()]})

    async def model(self, request: web.Request) -> web.Response:
        if request.match_info["model"] != self.limits.model:
            raise ApiError(404, "no such model here", code="model_not_found", param="model")
        return json_response(self._model_card())

    # -- chat completions ---------------------------------------------------------------

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        stats = self.app.stats
        stats.messages_in["http"] += 1
        parsed = self._parse(await read_body(request))
        user = end_user(request, parsed.user)
        try:
            result = await self.completions.complete(
                parsed.request, use_cache=not no_cache(request)
            )
        except NoBackendAvailable:
            raise ApiError(
                503,
                "no LLM can answer right now (every backend is down or its breaker is open) "
                "and this request is not cached; retry later",
                code="llm_unavailable",
                headers={"Retry-After": str(int(self.app.settings.llm.breaker_reset_s))},
            ) from None
        except UpstreamError as exc:
            raise _upstream(exc) from None
        except Refused:
            raise ApiError(
                400,
                "the moderation gate refused this request (http.moderate)",
                code="content_filter",
            ) from None
        shapes = CompletionShapes(
            self.limits.model,
            max_tokens=parsed.request.max_tokens or self.limits.max_tokens,
            include_usage=parsed.include_usage,
        )
        stats.replies_out["http"] += 1
        answer = ""
        try:
            if result.stream is None:  # cached: the whole answer is known
                answer = "" if result.blocked else result.text
                usage = result.usage or Usage(0, 0)
                if parsed.stream:  # one plain response holding the whole event stream
                    headers = {**SSE_HEADERS, "X-Quipbot-Cache": result.source}
                    body = shapes.replay(answer, usage, filtered=result.blocked is not None)
                    return web.Response(body=body, headers=headers)
            elif parsed.stream:
                response, answer = await self._stream(request, result, shapes)
                return response
            else:
                try:
                    answer = "".join([piece async for piece in result.stream])
                except UpstreamError as exc:
                    raise _upstream(exc) from None
                usage = result.usage or Usage(0, 0)
            if result.blocked:
                answer = ""
            return web.Response(
                body=shapes.completion(answer, usage, filtered=result.blocked is not None),
                headers={**JSON_HEADERS, "X-Quipbot-Cache": result.source},
            )
        finally:
            log_exchange(
                self.app.store,
                route="v1",
                command="completions",
                user=user,
                prompt=parsed.request.last_user_text,
                answer=answer,
                source=result.source,
                usage=result.usage,
                started=started,
            )

    async def _stream(
        self, request: web.Request, result: Answer, shapes: CompletionShapes
    ) -> tuple[web.StreamResponse, str]:
        """Relay a live answer piece by piece, as the LLM sends it."""
        assert result.stream is not None
        response = web.StreamResponse(headers={**SSE_HEADERS, "X-Quipbot-Cache": result.source})
        parts: list[str] = []
        try:
            await response.prepare(request)
            await response.write(shapes.role_chunk())
            async for piece in result.stream:
                parts.append(piece)
                await response.write(shapes.content_chunk(piece))
            filtered = result.blocked is not None  # the gate stopped it (http.moderate)
            await response.write(shapes.end_chunks(result.usage or Usage(0, 0), filtered=filtered))
            await response.write_eof()
        except UpstreamError as exc:  # the status is sent: say it in the stream, no [DONE]
            await _write_quietly(response, sse_event(_upstream(exc).body()))
        except ConnectionError:
            log.info("HTTP %s: the client went away mid-stream", request.path)
        return response, "".join(parts)

    def _parse(self, raw: bytes) -> ParsedCompletion:
        """Identical bodies are the common case in front of a cache: each is validated once."""
        parsed = self._parsed.get(raw)
        if parsed is None:
            parsed = parse_completion(parse_json(raw), self.limits)
            if len(raw) <= MEMO_BODY_BYTES:
                self._parsed[raw] = parsed
        return parsed

    # -- logs ---------------------------------------------------------------------------

    async def logs(self, request: web.Request) -> web.Response:
        raw = request.query.get("limit", "50")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LOG_ROWS:
            raise ApiError(400, f"limit must be an integer from 1 to {MAX_LOG_ROWS}", param="limit")
        await self.app.store.flush()
        rows = await self.app.store.recent_logs(int(raw))
        redact = self.app.sanitiser.redact
        data = [
            {key: redact(value) if isinstance(value, str) else value for key, value in row.items()}
            for row in rows
        ]
        return json_response({"object": "list", "data": data})


async def _write_quietly(response: web.StreamResponse, data: bytes) -> None:
    try:
        await response.write(data)
        await response.write_eof()
    except ConnectionError:
        pass


def _upstream(exc: UpstreamError) -> ApiError:
    return ApiError(502, f"{exc}; retry later", code="upstream_error")
